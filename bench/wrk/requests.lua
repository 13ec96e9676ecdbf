-- Replays prepared requests, one line each: METHOD \t PATH \t TOKEN \t IDEMPOTENCY-KEY \t BODY
-- Each wrk thread takes every Nth line so no request is sent twice.
-- Optional env RATE (requests/s for the whole run) turns on a per-connection delay.
-- A thread stops once every one of its prepared requests is answered (prepared requests answer 201 or a
-- refusal, the no-op filler 200), so the latencies are those of the prepared requests; done() prints when
-- the first thread started and the last one finished (wrk itself always reports its full -d duration).
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

local answered = 0

function response(status, headers, body)
  if status ~= 200 then
    answered = answered + 1
    if answered == #lines then
      finished = now_s()
      wrk.thread:stop()
    end
  end
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
