"""Start and stop the production shape on loopback for benchmarks and fault runs.

``Stack`` creates a scratch PostgreSQL database (migrated), points at a Redis
database of its own, and runs gunicorn and RQ workers as subprocesses; every
process it starts is stopped when the ``with`` block ends.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import requests
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
#: A production-shaped secret (backend/preflight.py refuses short or development ones); fixed so that every
#: process of a run and the harness's own app agree on keyed hashes and sealed secrets.
SECRET_KEY = "bench-" + "0123456789abcdef" * 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- CPU used by the stack's processes

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def _comm_and_cmd(pid: int) -> tuple[str, str]:
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return "", ""
    return comm, cmd


def _group(pid: int) -> str | None:
    comm, cmd = _comm_and_cmd(pid)
    if "gunicorn" in cmd:
        return "gunicorn"
    if "rq worker" in cmd or "rq/" in cmd and "worker" in cmd:
        return "rq"
    if comm.startswith("postgres") or "postgres:" in cmd:
        return "postgresql"
    if comm.startswith("redis-server"):
        return "redis"
    if comm == "wrk":
        return "wrk"
    if comm == "haproxy":
        return "haproxy"
    return None


def snapshot() -> dict[int, tuple[str, float]]:
    """CPU seconds used so far by every process of a known group."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            pid = int(entry)
            group = _group(pid)
            if group:
                out[pid] = (group, _cpu_seconds(pid))
    return out


def cpu_by_group(before: dict, after: dict) -> dict[str, float]:
    totals: dict[str, float] = collections.defaultdict(float)
    for pid, (group, used) in after.items():
        totals[group] += used - before.get(pid, (group, 0.0))[1]
    return dict(totals)


@dataclass
class Stack:
    pg_admin_url: str = os.environ.get("BENCH_PG_URL", "postgresql://root@127.0.0.1:5432/postgres")
    redis_url: str = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/12")
    # The README's production command: gunicorn.conf.py (gthread), 4 workers × 8 threads unless overridden.
    gunicorn_workers: int = int(os.environ.get("BENCH_GUNICORN_WORKERS", "4"))
    gunicorn_threads: int = int(os.environ.get("BENCH_GUNICORN_THREADS", "8"))
    rq_workers: int = 1
    gunicorn_args: list = field(default_factory=list)  # after gunicorn.conf.py and the above: they win
    extra_env: dict = field(default_factory=dict)  # the servers' environment on top of the machine's
    db_name: str = field(default_factory=lambda: f"suiyuan_bench_{uuid.uuid4().hex[:8]}")
    port: int = field(default_factory=free_port)
    procs: list = field(default_factory=list)
    log_dir: Path = field(default_factory=lambda: ROOT / "instance" / "bench-logs")

    @property
    def database_url(self) -> str:
        return sa.make_url(self.pg_admin_url).set(database=self.db_name).render_as_string(hide_password=False)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
        env.update(DATABASE_URL=self.database_url, REDIS_URL=self.redis_url, FLASK_APP="backend:create_app",
                   SECRET_KEY=SECRET_KEY, PYTHONPATH=str(ROOT))
        env.update(self.extra_env)
        return env

    def __enter__(self) -> Stack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        admin = sa.create_engine(sa.make_url(self.pg_admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        admin.dispose()
        import redis

        redis.Redis.from_url(self.redis_url).flushdb()
        subprocess.run([str(VENV_BIN / "flask"), "db", "upgrade", "heads"], cwd=ROOT, env=self.env(), check=True,
                       capture_output=True)
        subprocess.run([str(VENV_BIN / "flask"), "seed", "--reference-only"], cwd=ROOT, env=self.env(), check=True,
                       capture_output=True)
        return self

    def start_server(self) -> None:
        """Start gunicorn and the RQ workers; return when /health answers."""
        log = open(self.log_dir / "gunicorn.log", "w")
        self.procs.append(subprocess.Popen(
            [str(VENV_BIN / "gunicorn"), "-c", str(ROOT / "gunicorn.conf.py"), "-w", str(self.gunicorn_workers),
             "--threads", str(self.gunicorn_threads), "-b", f"127.0.0.1:{self.port}", *self.gunicorn_args,
             "wsgi:app"],
            cwd=ROOT, env=self.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
        for i in range(self.rq_workers):
            self.start_rq_worker(i)
        self.wait_healthy()

    def start_rq_worker(self, i: int) -> subprocess.Popen:
        """Start RQ worker ``i``; return its process. Every worker offers to run the scheduler (RQ lets
        one hold its lock at a time, and another takes over if that one dies)."""
        wlog = open(self.log_dir / f"rq-{i}.log", "a")
        # Short maintenance so abandoned jobs are found quickly in fault runs.
        args = [str(VENV_BIN / "rq"), "worker", "-w", "backend.jobs.AppWorker", "--url", self.redis_url,
                "--maintenance-interval", "5", "--job-monitoring-interval", "2", "--with-scheduler", "default"]
        proc = subprocess.Popen(args, cwd=ROOT, env=self.env(), stdout=wlog, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.procs.append(proc)
        return proc

    def wait_healthy(self, timeout_s: float = 60) -> None:
        """Return when /health answers; raise after ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                if requests.get(self.base_url + "/api/v1/health", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not come up; see " + str(self.log_dir / "gunicorn.log"))
            time.sleep(0.2)

    def stop_server(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
        self.procs.clear()

    def app(self):
        """Return an app bound to the stack's database (for fixtures and checks)."""
        from backend import create_app

        # Fixtures sign the access tokens of the prepared requests before a run; a run (make faults) can outlast
        # ACCESS_TOKEN_TTL, and wrk does not refresh, so they are signed for two hours. A real client refreshes
        # once per ACCESS_TOKEN_TTL: one request in thousands, not measured here.
        return create_app({"DATABASE_URL": self.database_url, "REDIS_URL": self.redis_url,
                           "SECRET_KEY": SECRET_KEY, "PASSWORD_HASH_METHOD": "scrypt:1024:8:1",
                           "ACCESS_TOKEN_TTL": timedelta(hours=2)})

    def __exit__(self, *exc) -> None:
        self.stop_server()
        admin = sa.create_engine(sa.make_url(self.pg_admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        admin.dispose()


def put_section(path: Path, begin: str, end: str, section: str) -> None:
    """Write ``section`` (which starts with ``begin`` and ends with ``end``) into the Markdown file at ``path``:
    in place of the one between those markers, or appended; the rest of the file is kept."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + section + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
