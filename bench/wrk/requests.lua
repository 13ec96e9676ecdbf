-- Replays prepared requests, one line each: METHOD \t PATH \t TOKEN \t IDEMPOTENCY-KEY \t BODY
-- Each wrk thread takes every Nth line so no request is sent twice.
-- Optional env RATE (requests/s for the whole run) turns on a per-connection delay.
-- With env DONE_FILE set, the run ends once every prepared request is answered (prepared requests answer
-- 201 or a refusal, the no-op filler 200): each thread that is through notes it in DONE_FILE, and the last
-- one interrupts wrk (SIGINT: wrk stops and reports as at the end of -d). A thread that is through early
-- keeps its connections busy with the no-op meanwhile (idle connections would hold gunicorn's sync workers).
-- done() prints when the first thread started and the last one was through.
local threads = {}
local counter = 1

function setup(thread)
  thread:set("id", counter)
  thread:set("nthreads", 0)
  table.insert(threads, thread)
  counter = counter + 1
end

local function now_s()
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("*a"))
  p:close()
  return t
end

local lines = {}
local pos = 1
local delay_ms = 0

function init(args)
  started = now_s()
  local p = io.popen("echo $PPID")
  wrk_pid = p:read("*l")
  p:close()
  local file = os.getenv("REQUESTS_FILE")
  local n = tonumber(os.getenv("WRK_THREADS"))
  local i = 0
  for line in io.lines(file) do
    if i % n == (id - 1) then table.insert(lines, line) end
    i = i + 1
  end
  local rate = tonumber(os.getenv("RATE") or "0")
  local conns = tonumber(os.getenv("WRK_CONNECTIONS") or "1")
  if rate > 0 then delay_ms = math.floor(1000 * conns / rate) end
end

function delay()
  return delay_ms
end

local function split(s)
  local out = {}
  for field in (s .. "\t"):gmatch("([^\t]*)\t") do table.insert(out, field) end
  return out
end

function request()
  if pos > #lines then
    -- Out of prepared requests: a cheap no-op keeps the connection busy; excluded from the count.
    return wrk.format("GET", "/api/v1/health?exhausted=1")
  end
  local f = split(lines[pos])
  pos = pos + 1
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. f[3]}
  if f[4] ~= "" then headers["Idempotency-Key"] = f[4] end
  return wrk.format(f[1], f[2], headers, f[5] ~= "" and f[5] or nil)
end

local answered, fillers = 0, 0

-- Through: every prepared request answered, or (one was lost to a socket error, which wrk does not retry)
-- every one sent and each connection well into the filler since.
local function through()
  if finished then return false end
  if answered >= #lines then return true end
  local conns = tonumber(os.getenv("WRK_CONNECTIONS") or "1") / tonumber(os.getenv("WRK_THREADS") or "1")
  return pos > #lines and fillers >= 10 * conns
end

local function note_through()
  finished = now_s()
  local done_file = os.getenv("DONE_FILE")
  if not done_file then return end
  local f = io.open(done_file, "a")
  f:write("through\n")
  f:close()
  local n = 0
  for _ in io.lines(done_file) do n = n + 1 end
  -- popen, not os.execute: system() ignores SIGINT in the caller (wrk) while the command runs.
  if n >= tonumber(os.getenv("WRK_THREADS")) then io.popen("kill -INT " .. wrk_pid):close() end
end

function response(status, headers, body)
  if status ~= 200 then answered = answered + 1 else fillers = fillers + 1 end
  if through() then note_through() end
end

function done(summary, latency, requests)
  local first, last = nil, nil
  for _, t in ipairs(threads) do
    local s, f = t:get("started"), t:get("finished")
    if s and (not first or s < first) then first = s end
    if f and (not last or f > last) then last = f end
  end
  if first and last then io.write(string.format("PREPARED_ANSWERED_IN_S %.3f\n", last - first)) end
  io.write(string.format("LATENCY p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
