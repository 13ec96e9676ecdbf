"""The read-only switch turned on while a payout batch is being paid: the batch stops cleanly between
chunks — every committed chunk is paid exactly once, the chunk in flight is rolled back whole (its lines
pending, no transfer of theirs), the ledger and the batch's reserve stay sound — and, once the switch is
off, the next run (the sweep's) pays the rest, each line once."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import Transfer
from backend.sql import insert_for
from payouts import service, tasks
from payouts.models import Batch, Line, PayoutCode
from protection.gate import ReadOnlyMode
from protection.models import PlatformState
from tests.payouts.helpers import csv_bytes, make_world


@pytest.fixture
def world(app, client, factory, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)  # jobs inline
    return make_world(app, client, factory)


def lines_by_status(batch_id: int) -> dict:
    return dict(db.session.execute(select(Line.status, func.count()).where(Line.batch_id == batch_id)
                                   .group_by(Line.status)).all())


def payout_transfers() -> dict:
    return dict(db.session.execute(select(Transfer.batch_id, func.count()).where(
        Transfer.code.in_((PayoutCode.PAYOUT, PayoutCode.TO_BANK))).group_by(Transfer.batch_id)).all())


def switch(on: bool) -> None:
    """The pilot office's switch, committed through a connection of its own (as another request would)."""
    with db.engine.begin() as conn:
        conn.execute(insert_for(PlatformState.__table__).values(id=1, read_only=on, reason="演练：付款中切换只读")
                     .on_conflict_do_update(index_elements=["id"], set_={"read_only": on}))


def test_read_only_while_a_batch_is_paid_stops_it_cleanly_and_the_next_run_pays_the_rest(world, monkeypatch):
    people = [world.payee(f"李{i}明") for i in range(5)]
    world.topup(1_000_000)
    rows = [[p.phone, f"李{i}明", f"{10 + k}", "salary", f"第{k}笔"] for k in range(4) for i, p in enumerate(people)]
    batch = world.upload(csv_bytes(rows)).get_json()
    assert batch["valid_count"] == 20
    service.approve(world.approver.user, batch["id"], batch["total_fen"], 20, lambda b: {})  # not run yet
    monkeypatch.setattr(tasks, "CHUNK", 6)
    if db.engine.dialect.name == "postgresql":
        # The switch lands in the middle of a chunk: its 8th line asks the money gate after it committed.
        real_legs, decided = tasks._legs, []

        def legs_then_switch(*args):
            decided.append(1)
            if len(decided) == 8:
                switch(True)
            return real_legs(*args)

        monkeypatch.setattr(tasks, "_legs", legs_then_switch)
    else:
        # SQLite has one writer at a time: the switch lands between the first chunk and the next.
        real_pay_chunk, chunks = tasks.pay_chunk, []

        def pay_chunk_then_switch(b):
            chunks.append(real_pay_chunk(b))
            if len(chunks) == 1:
                switch(True)
            return chunks[-1]

        monkeypatch.setattr(tasks, "pay_chunk", pay_chunk_then_switch)
    with pytest.raises(ReadOnlyMode):
        tasks.run_batch(batch["id"])
    db.session.rollback()
    statuses = lines_by_status(batch["id"])
    assert set(statuses) <= {"paid", "pending"} and statuses.get("pending", 0) >= 20 - 7  # the chunk in flight
    assert statuses.get("paid", 0) % 6 == 0  # whole chunks only
    paid_keys = {tasks.line_key(lid) for lid in db.session.execute(
        select(Line.id).where(Line.batch_id == batch["id"], Line.status == "paid")).scalars()}
    assert set(payout_transfers()) == paid_keys and set(payout_transfers().values()) <= {1}
    assert db.session.get(Batch, batch["id"]).status == "processing"  # the sweep resumes it
    assert ledger.verify() == [] and service.check_reserves() == []

    monkeypatch.undo()
    switch(False)
    result = tasks.run_batch(batch["id"])
    assert result["status"] == "closed" and result["paid"] == statuses.get("pending")
    assert lines_by_status(batch["id"]) == {"paid": 20}
    assert len(payout_transfers()) == 20 and set(payout_transfers().values()) == {1}
    assert sum(world.factory.balance(p) for p in people) == batch["total_fen"]
    assert ledger.verify() == [] and service.check_reserves() == []
