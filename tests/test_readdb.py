"""Heavy reads on the replica (READ_DATABASE_URL), back to the primary when it lags or is gone; money never reads it.

The "replica" here is a second database of the same engine with the same schema and different contents, so
every answer says which database it came from. (The real streaming replica is tests/bench/test_cluster.py's.)
Only the lag measurement is replaced, at its edge (``measure_lag``), to play a lagging replica.
"""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

from backend import readdb
from backend.auth.models import Role
from backend.clock import local_today
from backend.extensions import db
from backend.merchants.models import Merchant
from zones.models import Zone, ZoneKpiDaily

REPLICA_ONLY_FEN = 1_234_567


@pytest.fixture(scope="module")
def replica_url(engine_app, tmp_path_factory):
    """A second database on the same engine with the schema, standing in for the replica."""
    with engine_app.app_context():
        primary = db.engine.url
    if primary.get_backend_name() == "sqlite":
        url = sa.make_url(f"sqlite:///{tmp_path_factory.mktemp('replica') / 'replica.db'}")
        admin = None
    else:
        url = primary.set(database=f"suiyuan_replica_{os.getpid()}_{uuid.uuid4().hex[:6]}")
        admin = sa.create_engine(primary.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    engine = sa.create_engine(url)
    db.metadata.create_all(engine)
    engine.dispose()
    yield url.render_as_string(hide_password=False)
    if admin is not None:
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def replica(app, replica_url, monkeypatch):
    """Configure ``app`` to read from the stand-in replica (lag asked on every use); put a KPI row only there."""
    monkeypatch.setitem(app.config, "READ_DATABASE_URL", replica_url)
    monkeypatch.setitem(app.config, "READ_LAG_CHECK_SECONDS", 0)
    monkeypatch.setitem(app.config, "READ_MAX_LAG_SECONDS", 5)
    engine = sa.create_engine(replica_url)
    zones = [dict(r._mapping) for r in db.session.execute(sa.select(Zone.__table__))]
    zone_id = min(z["id"] for z in zones)
    with engine.begin() as conn:
        conn.execute(sa.delete(ZoneKpiDaily.__table__))
        conn.execute(sa.delete(Zone.__table__))
        conn.execute(sa.insert(Zone.__table__), zones)
        conn.execute(sa.insert(ZoneKpiDaily.__table__), [dict(zone_id=zone_id, day=local_today(), payment_count=3,
                                                             payment_fen=REPLICA_ONLY_FEN)])
    yield engine, zone_id
    rep = app.extensions.pop("suiyuan_replica", None)
    if rep is not None:
        rep.engine.dispose()
    engine.dispose()


def kpi_fen(client, admin, zone_id) -> int:
    r = client.get(f"/api/v1/zones/{zone_id}/kpis", headers=admin.auth)
    assert r.status_code == 200, r.json
    return r.json["totals"]["payment_fen"]


def ranked_fen(client, admin, zone_id) -> int:
    r = client.get("/api/v1/zones/ranking", headers=admin.auth)
    assert r.status_code == 200, r.json
    return next(i["value"] for i in r.json["items"] if i["zone"]["id"] == zone_id)


def test_kpis_and_ranking_read_the_replica_while_it_is_fresh(app, client, factory, replica):
    _, zone_id = replica
    admin = factory.user(Role.PILOT_ADMIN)
    assert kpi_fen(client, admin, zone_id) == REPLICA_ONLY_FEN
    assert ranked_fen(client, admin, zone_id) == REPLICA_ONLY_FEN
    health = client.get("/api/v1/health").json
    assert health["replica"] == {"serving_reads": True, "lag_s": 0.0, "max_lag_s": 5.0, "error": None}


def test_a_replica_lagging_past_the_bound_sends_the_reads_back_to_the_primary(app, client, factory, replica,
                                                                            monkeypatch):
    _, zone_id = replica
    admin = factory.user(Role.PILOT_ADMIN)
    monkeypatch.setattr(readdb, "measure_lag", lambda engine: 30.0)
    assert kpi_fen(client, admin, zone_id) == 0  # the primary's figure: no payments there
    assert ranked_fen(client, admin, zone_id) == 0
    assert client.get("/api/v1/health").json["replica"] == {"serving_reads": False, "lag_s": 30.0,
                                                            "max_lag_s": 5.0, "error": None}
    monkeypatch.setattr(readdb, "measure_lag", lambda engine: 4.9)  # caught up to within the bound: back to it
    assert kpi_fen(client, admin, zone_id) == REPLICA_ONLY_FEN


def test_a_replica_that_does_not_answer_sends_the_reads_to_the_primary(app, client, factory, replica, monkeypatch,
                                                                       tmp_path):
    _, zone_id = replica
    admin = factory.user(Role.PILOT_ADMIN)
    gone = ("postgresql://root@127.0.0.1:1/nowhere" if db.engine.dialect.name == "postgresql"
            else f"sqlite:///{tmp_path}/missing-dir/replica.db")
    monkeypatch.setitem(app.config, "READ_DATABASE_URL", gone)
    assert kpi_fen(client, admin, zone_id) == 0
    replica_health = client.get("/api/v1/health").json["replica"]
    assert replica_health["serving_reads"] is False and replica_health["error"]
    assert client.get("/api/v1/health").status_code == 200  # a node without its replica is still healthy


def test_money_moving_requests_and_writes_never_touch_the_replica(app, client, factory, replica):
    engine, zone_id = replica
    payer, payee = factory.consumer(balance_fen=10_000), factory.consumer()
    # The stand-in replica has no users, wallets or ledger: had the payment read it, it could not succeed.
    r = client.post("/api/v1/transfers", json={"to_phone": payee.phone, "amount_fen": 2_500},
                    headers={**payer.auth, "Idempotency-Key": "replica-1"})
    assert r.status_code == 201, r.json
    assert factory.balance(payee) == 2_500
    # Inside a replica block, a flush and a DML statement still go to the primary (the replica is read-only).
    with readdb.replica_reads() as on_replica:
        assert on_replica and readdb.reading_replica()
        assert db.session.execute(sa.select(sa.func.sum(ZoneKpiDaily.payment_fen))).scalar() == REPLICA_ONLY_FEN
        db.session.add(ZoneKpiDaily(zone_id=zone_id, day=local_today(), payment_fen=7))
        db.session.flush()
        db.session.execute(sa.update(ZoneKpiDaily).values(payment_count=1))
    db.session.commit()
    assert db.session.execute(sa.select(ZoneKpiDaily.payment_fen, ZoneKpiDaily.payment_count)).all() == [(7, 1)]
    with engine.connect() as conn:
        assert conn.execute(sa.select(ZoneKpiDaily.payment_fen, ZoneKpiDaily.payment_count).select_from(
            ZoneKpiDaily.__table__)).all() == [(REPLICA_ONLY_FEN, 3)]
    assert not readdb.reading_replica()


def test_without_a_replica_everything_reads_the_primary(app, client):
    assert app.config["READ_DATABASE_URL"] is None
    with readdb.replica_reads() as on_replica:
        assert on_replica is False and not readdb.reading_replica()
    assert client.get("/api/v1/health").json == {"status": "ok"}


def test_a_replica_that_fails_during_a_read_is_replaced_by_the_primary_for_that_read(app, client, factory,
                                                                                    monkeypatch, tmp_path):
    """The lag check passed a moment ago, then the replica went away: the request still answers, from the primary."""
    admin = factory.user(Role.PILOT_ADMIN)
    zone_id = db.session.execute(sa.select(Zone.id).order_by(Zone.id)).scalars().first()
    primary = db.engine.url
    if primary.get_backend_name() == "sqlite":
        url = sa.make_url(f"sqlite:///{tmp_path / 'doomed.db'}")
    else:
        url = primary.set(database=f"suiyuan_doomed_{os.getpid()}_{uuid.uuid4().hex[:6]}")
        admin_engine = sa.create_engine(primary.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin_engine.connect() as c:
            c.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    monkeypatch.setitem(app.config, "READ_DATABASE_URL", url.render_as_string(hide_password=False))
    monkeypatch.setitem(app.config, "READ_LAG_CHECK_SECONDS", 3600)  # no new check before the read
    try:
        assert readdb.replica_status().serving_reads
        if url.get_backend_name() == "sqlite":
            # An empty database where the replica was: its first query fails (no such table).
            (tmp_path / "doomed.db").unlink()
        else:
            app.extensions["suiyuan_replica"].engine.dispose()
            with admin_engine.connect() as c:
                c.execute(sa.text(f'DROP DATABASE "{url.database}" WITH (FORCE)'))
        assert kpi_fen(client, admin, zone_id) == 0
        status = readdb.replica_status()
        assert not status.serving_reads and status.error  # marked down until its next check
    finally:
        rep = app.extensions.pop("suiyuan_replica", None)
        if rep is not None:
            rep.engine.dispose()
        if url.get_backend_name() != "sqlite":
            with admin_engine.connect() as c:
                c.execute(sa.text(f'DROP DATABASE IF EXISTS "{url.database}" WITH (FORCE)'))
            admin_engine.dispose()


def test_flask_doctor_shows_the_replica_and_warns_when_it_does_not_serve(app, replica, monkeypatch):
    from backend.doctor import _replica, configuration

    assert ("READ_DATABASE_URL", app.config["READ_DATABASE_URL"]) in configuration(app)  # no password to mask
    [check] = _replica(app)
    assert (check.name, check.status) == ("replica", "ok") and "serving reads" in check.detail
    monkeypatch.setattr(readdb, "measure_lag", lambda engine: 30.0)
    [check] = _replica(app)
    assert check.status == "warn" and "past the bound" in check.detail and "primary" in check.detail


def test_statements_and_summaries_read_the_replica_while_it_is_fresh(app, factory, replica, monkeypatch):
    """Today's statement, the pilot office's summary and the prepaid overview are heavy reads: on the replica
    (which has no orders here, so a statement read there is empty), on the primary once it lags."""
    from tests.payments.helpers import Api, open_shop, paid_order

    api = Api(app)
    shop = open_shop(factory)
    paid_order(api, shop, factory.consumer(balance_fen=10_000), 2_500)
    path = f"/merchants/{shop.merchant_id}/statements/{local_today().isoformat()}"

    def statement_gross() -> int:
        r = api.get(path, shop.owner)
        assert r.status_code == 200, r.json
        return r.json["totals"]["gross_fen"]

    assert statement_gross() == 0  # the replica's figure: it has no orders
    monkeypatch.setattr(readdb, "measure_lag", lambda engine: 30.0)
    assert statement_gross() == 2_500  # lagging: the primary


def test_a_finished_day_is_read_on_the_replica_only_once_the_replica_must_hold_all_of_it(app, factory, replica,
                                                                                        monkeypatch):
    """A payment stamped 23:59:59 may reach the replica after midnight: the stored statement of a day that
    ended less than the allowed lag (plus a margin) ago is computed on the primary."""
    from datetime import datetime, timedelta

    import time_machine

    from backend.clock import local_zone
    from backend.payments import statements
    from tests.payments.helpers import open_shop

    merchant = db.session.get(Merchant, open_shop(factory).merchant_id)
    seen = []
    real_compute = statements.compute
    monkeypatch.setattr(statements, "compute",
                        lambda m, day: seen.append(readdb.reading_replica()) or real_compute(m, day))
    yesterday = local_today() - timedelta(days=1)
    midnight = datetime.combine(local_today(), datetime.min.time(), tzinfo=local_zone())
    with time_machine.travel(midnight + timedelta(seconds=30), tick=False):
        statements.compute_finished_day(merchant, yesterday)
    with time_machine.travel(midnight + timedelta(minutes=5), tick=False):
        statements.compute_finished_day(merchant, yesterday)
    assert seen == [False, True]
