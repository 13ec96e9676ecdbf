"""The app factory and the README's run command."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

from backend import create_app

ROOT = Path(__file__).resolve().parent.parent


def test_create_app_has_no_side_effects(tmp_path):
    db_file = tmp_path / "never-created.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{db_file}", "REDIS_URL": "redis://127.0.0.1:1/0"})
    assert app.url_map  # wired
    assert not db_file.exists()  # no connection, no migration, no seeding


def test_database_url_maps_to_psycopg3():
    from backend.config import database_url

    assert database_url("postgresql://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert database_url(None).startswith("sqlite:///") and database_url(None).endswith("instance/suiyuan.db")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_run_command_serves_openapi_and_is_idempotent(tmp_path):
    """What `make run` does after installing: migrate, seed (twice), serve on the embedded defaults
    (`flask serve`, with the periodic jobs in-process)."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(FLASK_APP="backend:create_app", DATABASE_URL=f"sqlite:///{tmp_path / 'run.db'}")
    flask = [sys.executable, "-m", "flask"]

    def sh(*args):
        return subprocess.run(flask + list(args), cwd=ROOT, env=env, capture_output=True, text=True, check=True)

    sh("db", "upgrade", "heads")
    assert "consumer 13800000001" in sh("seed").stdout
    sh("db", "upgrade", "heads")
    assert "nothing new" in sh("seed").stdout
    port = _free_port()
    out = open(tmp_path / "serve.out", "w+")  # noqa: SIM115 - read after the server stopped
    server = subprocess.Popen(flask + ["serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, "the server did not come up within a minute"
                time.sleep(0.2)
        assert resp.status_code == 200
        assert "/api/v1/wallets/me/topup" in resp.json()["paths"]
        ui = requests.get(f"http://127.0.0.1:{port}/api/v1/docs", timeout=5)
        assert ui.status_code == 200 and "/api/v1/swagger-ui/swagger-ui-bundle.js" in ui.text
        asset = requests.get(f"http://127.0.0.1:{port}/api/v1/swagger-ui/swagger-ui-bundle.js", timeout=5)
        assert asset.status_code == 200 and len(asset.content) > 100_000
        login = requests.post(f"http://127.0.0.1:{port}/api/v1/auth/login",
                              json={"phone": "13800000001", "password": "Suiyuan2026"}, timeout=10)
        assert login.status_code == 200
        wallet = requests.get(f"http://127.0.0.1:{port}/api/v1/wallets/me",
                              headers={"Authorization": "Bearer " + login.json()["token"]}, timeout=5)
        assert wallet.json()["balance_fen"] == 200_000
    finally:
        server.terminate()
        server.wait(10)
        out.seek(0)
        output = out.read()
        out.close()
    # The embedded default runs the registered periodic jobs in the server's process.
    assert "periodic jobs in-process:" in output and "campaigns.tasks.scan_campaigns" in output, output
    assert "Traceback" not in output and " failed" not in output, output  # no job failed while it served
    verify = sh("ledger", "verify")
    assert "ledger OK" in verify.stdout
