"""The cluster of ``make cluster`` (bench/cluster.py), end to end on the real engines (#18).

HAProxy in front of two app nodes, a PostgreSQL primary with a streaming replica, one Redis: a merchant listening
on node B hears a payment made through node A; a logout on A is refused on B, a freeze on A holds on B; a red-packet
claim on A holds on B (the consumer's and the device's); KPIs come from the replica (and
from the primary once the replica is gone); node A is killed under a small load of idempotent transfers and
nothing is lost or doubled (client answers, idempotency records, balances, ``flask ledger verify``).

Runs when haproxy, redis-server and PostgreSQL's server programs are installed (.ci/run installs them); with
``CI=true`` their absence fails it.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from bench.cluster import Cluster, missing_tools
from tests.conftest import unavailable

PASSWORD = "Suiyuan2026"  # the demo logins (`flask seed`)
AMOUNT = 10  # fen per transfer of the load: small, so a fast machine never drains the ¥500 demo wallet


def login(base: str, phone: str) -> dict:
    r = requests.post(base + "/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}, timeout=30)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


class Listener(threading.Thread):
    """Reads an order's event stream (SSE) on one node; records each status with when it arrived."""

    def __init__(self, url: str, headers: dict):
        super().__init__(daemon=True)
        self.url, self.headers = url, headers
        self.events: list[tuple[float, str]] = []
        self.connected = threading.Event()
        self.error: Exception | None = None

    def run(self):
        try:
            with requests.get(self.url, headers=self.headers, stream=True, timeout=30) as r:
                r.raise_for_status()
                event = None
                for line in r.iter_lines(decode_unicode=True):
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event == "status":
                        self.events.append((time.monotonic(), json.loads(line[6:])["status"]))
                        self.connected.set()
                    elif line.startswith("data: ") and event == "end":
                        return
        except Exception as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.connected.set()


class TransferLoad(threading.Thread):
    """Idempotent transfers through HAProxy; a request that dies (node killed, 502/503) is retried with its key
    until it gets an answer. Records (key, status, body) of each final answer."""

    def __init__(self, base: str, headers: dict, to_phone: str, stop: threading.Event):
        super().__init__(daemon=True)
        self.base, self.headers, self.to_phone, self.stop = base, headers, to_phone, stop
        self.answers: list[tuple[str, int, dict]] = []
        self.retries = Counter()

    def run(self):
        http = requests.Session()
        while not self.stop.is_set():
            key = uuid.uuid4().hex
            deadline = time.monotonic() + 30
            while True:
                try:
                    r = http.post(self.base + "/api/v1/transfers", json={"to_phone": self.to_phone,
                                                                         "amount_fen": AMOUNT},
                                  headers={**self.headers, "Idempotency-Key": key}, timeout=10)
                    if r.status_code < 500:
                        self.answers.append((key, r.status_code, r.json()))
                        break
                    self.retries[r.status_code] += 1
                except requests.RequestException as exc:
                    self.retries[type(exc).__name__] += 1
                    http = requests.Session()
                if time.monotonic() > deadline:
                    self.answers.append((key, 0, {}))  # never answered: the test fails on it
                    break
                time.sleep(0.2)


def wait_for(check, timeout_s: float, what: str):
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.3)


@pytest.mark.postgres
@pytest.mark.redis
def test_two_nodes_behind_haproxy_with_a_replica():
    missing = missing_tools()
    if missing:
        unavailable("cluster tools", ", ".join(missing) + " (Debian: haproxy, redis-server, postgresql; .ci/run)")
    started = time.monotonic()
    # A generous lag bound so the paused replica below keeps serving reads while the test looks at them.
    # Under the system's temp directory, not the checkout: PostgreSQL runs as the postgres user, which must be
    # able to reach its data directory (a checkout inside a private 0700 folder would stop it).
    parent = Path(tempfile.mkdtemp(prefix="suiyuan-cluster-test-"))
    parent.chmod(0o755)
    cluster = Cluster.on_free_ports(parent / f"cluster-{uuid.uuid4().hex[:6]}", workers=1,
                                    extra_env={"READ_MAX_LAG_SECONDS": "120"})
    with cluster as c:
        up_s = time.monotonic() - started
        lb, a, b = c.url, c.node_url("a"), c.node_url("b")
        owner_a, consumer_a = login(a, "13900000001"), login(a, "13800000001")
        owner_b, pilot_b = login(b, "13900000001"), login(b, "13500000001")

        # ---- an order paid through node A is heard by its merchant on node B
        r = requests.post(a + "/api/v1/orders", json={"merchant_id": 1, "amount_fen": 3850}, headers=owner_a,
                          timeout=10)
        assert r.status_code == 201, r.text
        order = r.json()
        listener = Listener(f"{b}/api/v1/orders/{order['id']}/events", owner_b)
        listener.start()
        assert listener.connected.wait(15) and listener.error is None, listener.error
        r = requests.post(a + "/api/v1/payments", json={"payload": order["payload"]},
                          headers={**consumer_a, "Idempotency-Key": "cluster-pay-1"}, timeout=10)
        assert r.status_code == 201, r.text
        paid_at = time.monotonic()
        listener.join(10)
        assert listener.error is None and [s for _, s in listener.events] == ["created", "paid"], listener.events
        assert listener.events[-1][0] - paid_at < 2.0  # pushed through Redis pub/sub, not found by a late re-read

        # ---- a logout on node A holds on node B at once
        second = login(a, "13800000001")
        assert requests.get(b + "/api/v1/me", headers=second, timeout=10).status_code == 200
        assert requests.post(a + "/api/v1/auth/logout", headers=second, timeout=10).status_code == 204
        refused = requests.get(b + "/api/v1/me", headers=second, timeout=10)
        assert refused.status_code == 401, refused.text

        # ---- a freeze on node A holds on node B at once (the money gate reads PostgreSQL, the one truth)
        pilot_a = login(a, "13500000001")
        r = requests.post(b + "/api/v1/orders", json={"merchant_id": 1, "amount_fen": 100}, headers=owner_b,
                          timeout=10)
        assert r.status_code == 201, r.text
        frozen = requests.post(a + "/api/v1/protection/freezes", headers=pilot_a, timeout=10, json={
            "target_kind": "merchant", "target_id": 1, "reason": "集群演练：冻结后另一节点立即拒绝收款"})
        assert frozen.status_code == 201, frozen.text
        held = requests.post(b + "/api/v1/payments", json={"payload": r.json()["payload"]},
                             headers={**consumer_a, "Idempotency-Key": "cluster-frozen-1"}, timeout=10)
        assert held.status_code == 423 and held.json()["code"] == "merchant_frozen", held.text
        lifted = requests.post(f"{b}/api/v1/protection/freezes/{frozen.json()['id']}/lift", headers=pilot_b,
                               json={"reason": "演练结束"}, timeout=10)
        assert lifted.status_code == 200, lifted.text

        # ---- one claim gate for the cluster: a claim on A holds on B, for the consumer and for the device
        campaign_id = c.sql(c.pg_port, "SELECT id FROM campaigns ORDER BY id LIMIT 1")[0][0]
        claimer_a, claimer_b = login(a, "13800000003"), login(b, "13800000003")
        other_b = login(b, "13800000002")

        def claim(node, headers, key):
            return requests.post(f"{node}/api/v1/campaigns/{campaign_id}/claims", json={}, timeout=10,
                                 headers={**headers, "Idempotency-Key": key, "X-Device-Id": "cluster-phone-1"})

        won = claim(a, claimer_a, "claim-a")
        assert won.status_code == 201, won.text
        again = claim(b, claimer_b, "claim-b")
        assert again.status_code == 409 and again.json()["code"] == "already_claimed", again.text
        assert again.json()["packet_seq"] == won.json()["packet_seq"]  # the packet A handed out, as B sees it
        same_device = claim(b, other_b, "claim-c")
        assert same_device.status_code == 409 and same_device.json()["code"] == "device_cap", same_device.text

        # ---- KPIs: node B reads them from the replica while it serves, from the primary once it is gone
        zone_id = c.sql(c.pg_port, "SELECT zone_id FROM zone_merchants WHERE merchant_id = 1")[0][0]

        def kpi_fen(node: str) -> int:
            r = requests.get(f"{node}/api/v1/zones/{zone_id}/kpis", headers=pilot_b, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["totals"]["payment_fen"]

        wait_for(lambda: kpi_fen(b) == 3850, 30, "the payment in the zone's KPIs (RQ job → primary → replica)")
        health = requests.get(b + "/api/v1/health", timeout=5).json()
        assert health["replica"]["serving_reads"] is True, health
        c.sql(c.replica_port, "SELECT pg_wal_replay_pause()")  # the replica stops at what it has
        order2 = requests.post(a + "/api/v1/orders", json={"merchant_id": 1, "amount_fen": 1000}, headers=owner_a,
                               timeout=10).json()
        r = requests.post(a + "/api/v1/payments", json={"payload": order2["payload"]},
                          headers={**consumer_a, "Idempotency-Key": "cluster-pay-2"}, timeout=10)
        assert r.status_code == 201, r.text
        primary_fen = f"SELECT coalesce(sum(payment_fen), 0) FROM zone_kpi_daily WHERE zone_id = {zone_id}"
        wait_for(lambda: c.sql(c.pg_port, primary_fen)[0][0] == 4850, 30, "the second payment in the primary's KPIs")
        assert kpi_fen(b) == 3850 and kpi_fen(a) == 3850  # both nodes read the (paused) replica, not the primary
        c.stop_replica()
        assert kpi_fen(b) == 4850 and kpi_fen(a) == 4850  # the replica is gone: the primary answers
        health = requests.get(b + "/api/v1/health", timeout=5).json()
        assert health["replica"]["serving_reads"] is False and health["replica"]["error"], health

        # ---- node A killed under a small load: every request answered once, nothing lost or doubled
        payers = [("13800000001", login(lb, "13800000001")), ("13800000002", login(lb, "13800000002"))]
        payee = login(lb, "13800000003")

        def balance(headers) -> int:
            r = requests.get(b + "/api/v1/wallets/me", headers=headers, timeout=10)
            assert r.status_code == 200, r.text
            return r.json()["balance_fen"]

        before = {phone: balance(h) for phone, h in payers} | {"payee": balance(payee)}
        stop = threading.Event()
        load = [TransferLoad(lb, h, "13800000003", stop) for _, h in payers for _ in range(2)]
        for t in load:
            t.start()
        time.sleep(2)
        c.kill("node-a")  # SIGKILL to the master and its workers: requests in flight die with them
        time.sleep(4)
        stop.set()
        for t in load:
            t.join(40)
        answers = [ans for t in load for ans in t.answers]
        retries = sum((t.retries for t in load), Counter())
        assert answers and all(status == 201 for _, status, _ in answers), Counter(s for _, s, _ in answers)
        ok_by_payer = Counter()
        for (phone, _), t in zip([p for p in payers for _ in range(2)], load, strict=True):
            ok_by_payer[phone] += len(t.answers)
        # Balances moved by exactly the acknowledged transfers: nothing lost, nothing doubled.
        after = {phone: balance(h) for phone, h in payers} | {"payee": balance(payee)}
        for phone, _ in payers:
            assert before[phone] - after[phone] == ok_by_payer[phone] * AMOUNT, (phone, before, after, ok_by_payer)
        assert after["payee"] - before["payee"] == len(answers) * AMOUNT
        # One idempotency record per key, holding the very answer the client got (the retried ones included).
        keys = {key: body for key, _, body in answers}
        rows = c.sql(c.pg_port, "SELECT key, status_code, response_json FROM idempotency_keys WHERE key IN ("
                     + ",".join(f"'{k}'" for k in keys) + ")")
        assert len(rows) == len(keys)
        for key, status, body in rows:
            assert status == 201 and json.loads(body) == keys[key]
        assert len({body["transfer_id"] for body in keys.values()}) == len(keys)
        # HAProxy stopped sending to A: the load balancer answers from B alone.
        assert all(requests.get(lb + "/api/v1/health", timeout=5).status_code == 200 for _ in range(6))
        verify = c.flask("ledger", "verify")
        assert verify.returncode == 0, verify.stdout + verify.stderr
        # One scheduler for the cluster: one `rq cron`, and the nodes' two RQ workers.
        assert [n for n in c.pids if n.startswith("rq-cron")] == ["rq-cron"]
        print(f"cluster up in {up_s:.1f} s; {len(answers)} transfers, retries after the kill: {dict(retries)}")
    assert not cluster.dir.exists()


def test_the_cluster_bench_section_replaces_its_previous_self_in_benchmarks_md(tmp_path):
    from bench.cluster_bench import BEGIN, END, write_section

    run = {"when": "2026-12-03T09:00:00+00:00", "quick": False, "ledger_verify": "ok",
           "shape": {"nodes": 2, "gunicorn_workers_per_node": 2, "gunicorn_threads": 8, "rq_workers_per_node": 1},
           "payments_haproxy": [{"payments_per_s": 150.0, "cpu_ms_per_payment": {"gunicorn": 4.0, "all": 6.0}}],
           "payments_node": [{"payments_per_s": 200.0, "cpu_ms_per_payment": {"gunicorn": 3.6, "all": 5.2}}],
           "claims_haproxy": {"claimants": 4000, "packets": 1000, "claims_per_s": 400.0},
           "claims_node": {"claimants": 4000, "packets": 1000, "claims_per_s": 500.0},
           "ratios": {"payments_haproxy_vs_node": 0.75, "claims_haproxy_vs_node": 0.8}}
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nthe main run\n")
    write_section(run, path)
    write_section({**run, "ratios": {"payments_haproxy_vs_node": 0.7, "claims_haproxy_vs_node": 0.9}}, path)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nthe main run\n")
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    assert "| 0.7 (best ÷ best) |" in text and "0.75" not in text
    assert "load balancer's tax, not a gain" in text
