"""``make cluster`` / ``make cluster-down``: the platform in its several-machine shape, on loopback.

    python -m bench.cluster up      # start everything, print the one URL to use
    python -m bench.cluster down    # stop everything, delete the cluster's data
    python -m bench.cluster status

What runs (every address is on 127.0.0.1; every process is the project's own, nothing of the machine's
services is touched — the machine's PostgreSQL on 5432 and Redis on 6379 are neither used nor changed):

- HAProxy (Debian's package) on ``base`` (default 8800), round robin over the app nodes, each checked on
  ``/api/v1/health`` twice a second; a node that fails two checks gets no more requests. It never replays a
  request that reached a node (HAProxy retries connection failures only): a client whose request died with its
  node retries with the same Idempotency-Key and gets the first answer.
- Two app nodes, each its own gunicorn master with ``gunicorn.conf.py`` (``base+1``, ``base+2``), each with its
  own RQ worker; ONE ``rq cron backend.cron`` for the whole cluster, so a periodic job runs once, not once per
  node.
- A PostgreSQL primary (``initdb`` into the cluster's own directory, ``base+3``... by default 5434) and a
  streaming replica made from it with ``pg_basebackup -R`` (5435), both started with ``pg_ctl`` (as the
  ``postgres`` user when run as root: PostgreSQL refuses to run as root). The nodes write to the primary and
  send the heavy reads to the replica (``READ_DATABASE_URL``).
- A private redis-server (6389): claim gate, throttles, queues and order events (pub/sub) for every node.

Everything lives under ``instance/cluster/`` (``state.json`` records the pids, ports and the generated secret);
``down`` stops what ``state.json`` names and removes the directory. :class:`Cluster` is the same thing as a
context manager for tests (tests/bench/test_cluster.py), on free ports.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import requests

from bench.harness import ROOT, VENV_BIN, free_port

DEFAULT_DIR = ROOT / "instance" / "cluster"
DB_NAME = "suiyuan"
NODE_NAMES = ("a", "b")


def pg_bindir() -> Path | None:
    """Directory of initdb/pg_ctl/pg_basebackup (Debian keeps them out of PATH), or None."""
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        if (Path(out) / "initdb").exists():
            return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def missing_tools() -> list[str]:
    """The programs the cluster needs that this machine lacks (empty when it can run)."""
    missing = [t for t in ("haproxy", "redis-server") if shutil.which(t) is None]
    bindir = pg_bindir()
    if bindir is None or not all((bindir / t).exists() for t in ("initdb", "pg_ctl", "pg_basebackup")):
        missing.append("initdb/pg_ctl/pg_basebackup")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        missing.append("runuser")
    return missing


def _as_pg_user(args: list) -> list[str]:
    """PostgreSQL refuses to run as root: run its programs as ``postgres`` then."""
    args = [str(a) for a in args]
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class Cluster:
    base_port: int = 8800
    pg_port: int = 5434
    replica_port: int = 5435
    redis_port: int = 6389
    dir: Path = DEFAULT_DIR
    #: per node; small by default: two nodes share this machine's cores with PostgreSQL and Redis.
    workers: int = int(os.environ.get("CLUSTER_GUNICORN_WORKERS", "2"))
    threads: int = int(os.environ.get("CLUSTER_GUNICORN_THREADS", "8"))
    seed_demo: bool = True
    extra_env: dict = field(default_factory=dict)  # e.g. READ_MAX_LAG_SECONDS for every process of the cluster
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(36))
    pids: dict = field(default_factory=dict)  # name -> pid (each the leader of its own process group)

    # ---------------------------------------------------------------- addresses

    @classmethod
    def on_free_ports(cls, dir: Path, **kw) -> Cluster:
        base = free_port()
        for _ in range(50):  # base and base+1, base+2 must all be free
            if all(_port_free(base + i) for i in range(3)):
                break
            base = free_port()
        return cls(base_port=base, pg_port=free_port(), replica_port=free_port(), redis_port=free_port(), dir=dir,
                   **kw)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.base_port}"

    def node_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.base_port + 1 + NODE_NAMES.index(name)}"

    @property
    def database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DB_NAME}"

    @property
    def read_database_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.replica_port}/{DB_NAME}"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def primary_dir(self) -> Path:
        return self.dir / "pg-primary"

    @property
    def replica_dir(self) -> Path:
        return self.dir / "pg-replica"

    @property
    def log_dir(self) -> Path:
        return self.dir / "logs"

    def env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST") and k != "SUIYUAN_ENV"}
        env.update(DATABASE_URL=self.database_url, READ_DATABASE_URL=self.read_database_url,
                   REDIS_URL=self.redis_url, SECRET_KEY=self.secret_key, SUIYUAN_ENV="production",
                   FLASK_APP="backend:create_app", PYTHONPATH=str(ROOT))
        env.update(self.extra_env)
        return env

    # ---------------------------------------------------------------- state file

    @property
    def state_file(self) -> Path:
        return self.dir / "state.json"

    def save(self) -> None:
        data = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        self.state_file.write_text(json.dumps(data, indent=1))
        self.state_file.chmod(0o600)  # holds the secret key

    @classmethod
    def load(cls, dir: Path = DEFAULT_DIR) -> Cluster | None:
        try:
            data = json.loads((dir / "state.json").read_text())
        except FileNotFoundError:
            return None
        data["dir"] = Path(data["dir"])
        return cls(**data)

    # ---------------------------------------------------------------- processes

    def _spawn(self, name: str, args: list, *, env: dict | None = None) -> int:
        log = open(self.log_dir / f"{name}.log", "a")
        proc = subprocess.Popen([str(a) for a in args], cwd=ROOT, env=env or self.env(), stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.pids[name] = proc.pid
        self.save()
        return proc.pid

    def alive(self, name: str) -> bool:
        pid = self.pids.get(name)
        if not pid:
            return False
        try:
            os.killpg(pid, 0)
        except ProcessLookupError:
            return False
        # A zombie (our own child that exited) still answers signal 0; ask /proc for its state.
        try:
            return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z" or _group_has_others(pid)
        except FileNotFoundError:
            return _group_has_others(pid)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to process ``name``'s whole group (gunicorn master and its workers)."""
        pid = self.pids.get(name)
        if pid:
            try:
                os.killpg(pid, sig)
            except ProcessLookupError:
                pass

    def _run(self, args: list, **kw) -> subprocess.CompletedProcess:
        return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)

    # ---------------------------------------------------------------- up

    def up(self) -> Cluster:
        missing = missing_tools()
        if missing:
            raise RuntimeError("the cluster needs " + ", ".join(missing) + " (Debian: apt-get install haproxy "
                               "redis-server postgresql; .ci/run installs them)")
        busy = [p for p in self.ports() if not _port_free(p)]
        if busy:
            raise RuntimeError(f"ports in use on 127.0.0.1: {busy}; choose others (python -m bench.cluster --help)")
        if self.dir.exists():
            shutil.rmtree(self.dir)
        self.log_dir.mkdir(parents=True)
        self.save()
        try:
            self._start_redis()
            self._start_postgres()
            self._migrate_and_seed()
            self._start_replica()
            for name in NODE_NAMES:
                self.start_node(name)
            self._spawn("rq-cron", [VENV_BIN / "rq", "cron", "backend.cron", "--url", self.redis_url])
            self._start_haproxy()
            self.wait_healthy(self.url)
        except BaseException:
            self.down(remove=False)  # keep the logs to say why
            raise
        return self

    def _start_redis(self) -> None:
        import redis

        self._spawn("redis", ["redis-server", "--port", self.redis_port, "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", self.dir, "--daemonize", "no"])
        client = redis.Redis(port=self.redis_port, socket_timeout=1)
        _wait(lambda: client.ping(), "redis-server", errors=(redis.RedisError,))
        client.close()

    def _pg_dirs(self) -> None:
        for d in (self.primary_dir, self.replica_dir):
            d.mkdir(mode=0o700)
            if os.geteuid() == 0:
                shutil.chown(d, "postgres", "postgres")
        if os.geteuid() == 0:
            shutil.chown(self.log_dir, "postgres", "postgres")

    def _pg_ctl_start(self, data: Path, port: int, name: str) -> None:
        bindir = pg_bindir()
        # Sockets in the data directory (the postgres user owns it); TCP on loopback only.
        opts = f"-p {port} -c listen_addresses=127.0.0.1 -k {data}"
        self._run(_as_pg_user([bindir / "pg_ctl", "-D", data, "-o", opts, "-l", self.log_dir / f"{name}.log",
                               "-w", "-t", "60", "start"]))
        self.pids[name] = int((data / "postmaster.pid").read_text().split()[0])
        self.save()

    def _start_postgres(self) -> None:
        bindir = pg_bindir()
        self._pg_dirs()
        # trust on loopback (initdb's pg_hba.conf also admits replication connections from 127.0.0.1).
        self._run(_as_pg_user([bindir / "initdb", "-D", self.primary_dir, "-U", "postgres", "-A", "trust",
                               "-E", "UTF8", "--locale", "C.UTF-8", "--no-sync"]))
        with open(self.primary_dir / "postgresql.conf", "a") as conf:
            # wal_level=replica, max_wal_senders=10 and hot_standby=on are PostgreSQL's defaults already.
            conf.write("\n# suiyuan cluster\nmax_connections = 200\nwal_keep_size = '256MB'\n")
        self._pg_ctl_start(self.primary_dir, self.pg_port, "pg-primary")
        self._run(_as_pg_user([bindir / "psql", "-h", "127.0.0.1", "-p", self.pg_port, "-U", "postgres",
                               "-d", "postgres", "-c", f"CREATE DATABASE {DB_NAME}"]))

    def _start_replica(self) -> None:
        bindir = pg_bindir()
        # -R: standby.signal + primary_conninfo; -X stream: the WAL written during the copy comes along.
        self._run(_as_pg_user([bindir / "pg_basebackup", "-h", "127.0.0.1", "-p", self.pg_port, "-U", "postgres",
                               "-D", self.replica_dir, "-R", "-X", "stream", "-c", "fast", "--no-sync"]))
        self._pg_ctl_start(self.replica_dir, self.replica_port, "pg-replica")

    def _migrate_and_seed(self) -> None:
        env = self.env()
        env.pop("READ_DATABASE_URL")  # no replica yet
        flask = VENV_BIN / "flask"
        self._run([flask, "db", "upgrade", "heads"], cwd=ROOT, env=env)
        self._run([flask, "seed"] + ([] if self.seed_demo else ["--reference-only"]), cwd=ROOT, env=env)

    def start_node(self, name: str) -> None:
        port = self.node_url(name).rsplit(":", 1)[1]
        self._spawn(f"node-{name}", [VENV_BIN / "gunicorn", "-c", ROOT / "gunicorn.conf.py", "-w", self.workers,
                                     "--threads", self.threads, "-b", f"127.0.0.1:{port}", "wsgi:app"])
        # Each node's own RQ worker; every one offers to run RQ's scheduler (one holds its lock at a time).
        self._spawn(f"rq-{name}", [VENV_BIN / "rq", "worker", "-w", "backend.jobs.AppWorker", "--with-scheduler",
                                   "--url", self.redis_url, "--name", f"node-{name}-{self.base_port}", "default"])
        self.wait_healthy(self.node_url(name))

    def haproxy_config(self) -> str:
        servers = "\n".join(f"    server {n} {self.node_url(n)[len('http://'):]} check" for n in NODE_NAMES)
        return f"""# generated by bench/cluster.py
global
    maxconn 4000
    pidfile {self.dir / "haproxy.pid"}

defaults
    mode http
    option httplog
    timeout connect 2s
    # Order streams (SSE) send a keep-alive line every second; a minute of silence means the node is gone.
    timeout client 75s
    timeout server 75s
    # Below gunicorn's keepalive (75 s): HAProxy closes an idle server connection before gunicorn does.
    timeout http-keep-alive 60s
    # Retries only connection failures (HAProxy never replays a request a node received) on another node.
    retries 2
    option redispatch

frontend suiyuan
    bind 127.0.0.1:{self.base_port}
    default_backend nodes

backend nodes
    balance roundrobin
    option httpchk GET /api/v1/health
    http-check expect status 200
    default-server inter 500ms fall 2 rise 2
{servers}
"""

    def _start_haproxy(self) -> None:
        cfg = self.dir / "haproxy.cfg"
        cfg.write_text(self.haproxy_config())
        self._run(["haproxy", "-c", "-q", "-f", cfg])
        self._spawn("haproxy", ["haproxy", "-db", "-f", cfg])
        time.sleep(0.3)
        if not self.alive("haproxy"):
            raise RuntimeError(f"haproxy exited; see {self.log_dir / 'haproxy.log'}")

    def wait_healthy(self, url: str, timeout_s: float = 90) -> None:
        _wait(lambda: requests.get(url + "/api/v1/health", timeout=2).raise_for_status(), url,
              errors=(requests.RequestException,), timeout_s=timeout_s)

    # ---------------------------------------------------------------- down

    def ports(self) -> list[int]:
        return [self.base_port, self.base_port + 1, self.base_port + 2, self.pg_port, self.replica_port,
                self.redis_port]

    def down(self, remove: bool = True) -> None:
        """Stop every process the state names (app tier first, PostgreSQL last) and delete the directory
        (unless ``remove`` is false: a failed start keeps its logs)."""
        order = ["haproxy", "rq-cron", *(f"{p}-{n}" for n in NODE_NAMES for p in ("node", "rq")), "redis"]
        for name in order:
            self.kill(name, signal.SIGTERM)
        deadline = time.monotonic() + 15
        for name in order:
            while self.alive(name) and time.monotonic() < deadline:
                time.sleep(0.1)
            self.kill(name, signal.SIGKILL)
        bindir = pg_bindir()
        for data in (self.replica_dir, self.primary_dir):
            if (data / "postmaster.pid").exists() and bindir is not None:
                subprocess.run(_as_pg_user([bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"]),
                               capture_output=True)
        self.pids.clear()
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
        elif self.state_file.exists():
            self.state_file.unlink()

    # ---------------------------------------------------------------- for tests and the bench

    def __enter__(self) -> Cluster:
        return self.up()

    def __exit__(self, *exc) -> None:
        self.down()

    def sql(self, port: int, query: str) -> list:
        """Run ``query`` on the cluster's PostgreSQL at ``port`` (primary or replica); return its rows."""
        import sqlalchemy as sa

        engine = sa.create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/{DB_NAME}",
                                  isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                result = conn.execute(sa.text(query))
                return [tuple(r) for r in result] if result.returns_rows else []
        finally:
            engine.dispose()

    def stop_replica(self) -> None:
        subprocess.run(_as_pg_user([pg_bindir() / "pg_ctl", "-D", self.replica_dir, "-m", "immediate", "-w",
                                    "stop"]), check=True, capture_output=True)

    def flask(self, *args: str) -> subprocess.CompletedProcess:
        """Run a ``flask`` command against the cluster's primary (e.g. ``ledger verify``)."""
        return subprocess.run([str(VENV_BIN / "flask"), *args], cwd=ROOT, env=self.env(), capture_output=True,
                              text=True)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is no obstacle
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _group_has_others(pgid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != pgid:
            try:
                fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _wait(check, what: str, *, errors: tuple, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            check()
            return
        except errors as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not come up: {exc}") from None
            time.sleep(0.2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cluster", description=__doc__.split("\n\n")[0])
    p.add_argument("command", choices=["up", "down", "status"])
    p.add_argument("--dir", type=Path, default=DEFAULT_DIR)
    p.add_argument("--port", type=int, default=int(os.environ.get("CLUSTER_PORT", "8800")),
                   help="HAProxy's port; the nodes use the next two")
    p.add_argument("--pg-port", type=int, default=5434)
    p.add_argument("--replica-port", type=int, default=5435)
    p.add_argument("--redis-port", type=int, default=6389)
    a = p.parse_args(argv)
    existing = Cluster.load(a.dir)
    if a.command == "down":
        if existing is None:
            print("no cluster running")
            return 0
        existing.down()
        print("cluster stopped")
        return 0
    if a.command == "status":
        if existing is None:
            print("no cluster running")
            return 1
        for name, pid in existing.pids.items():
            print(f"{name:12} pid {pid:7} {'up' if existing.alive(name) else 'DOWN'}")
        return 0
    if existing is not None:
        if all(existing.alive(n) for n in existing.pids) and existing.pids:
            print(f"cluster already up: {existing.url}/api/v1/")
            return 0
        existing.down()  # a stale or half-started one
    c = Cluster(base_port=a.port, pg_port=a.pg_port, replica_port=a.replica_port, redis_port=a.redis_port, dir=a.dir)
    c.up()
    print(f"""Suiyuan cluster up: {c.url}/api/v1/   (HAProxy → node a {c.node_url('a')}, node b {c.node_url('b')})
  primary   {c.database_url}
  replica   {c.read_database_url}   (READ_DATABASE_URL: zone KPIs, rankings, report figures)
  redis     {c.redis_url}
  logs      {c.log_dir}
Stop it with `make cluster-down`.""")
    return 0


if __name__ == "__main__":
    sys.exit(main())
