"""The payee's side: pay slips, the notice of a line that could not be paid, the wallet history's mark, and
the batch's progress over server-sent events."""

from __future__ import annotations

import json

from tests.payouts.helpers import csv_bytes


def sse_events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if line and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


def test_pay_slips_history_marks_and_the_notice_of_a_refused_line(world):
    paid = world.payee("李小明")
    full = world.payee("王芳", balance_fen=1_000_000)
    stranger = world.payee("陈静")
    world.topup(1_000_000)
    batch = world.upload(csv_bytes([[paid.phone, "李小明", "3850.50", "salary", "三月工资"],
                                    [full.phone, "王芳", "100", "subsidy", "交通补贴"]])).get_json()
    world.approve(batch)
    slips = world.client.get("/api/v1/payouts/me/payslips", headers=paid.auth).get_json()["items"]
    assert len(slips) == 1
    slip = slips[0]
    assert (slip["organisation"], slip["title"], slip["category_zh"], slip["memo"]) == \
        ("越秀区财政局", "三月工资", "工资", "三月工资")
    assert (slip["amount_fen"], slip["to_wallet_fen"], slip["to_bank_fen"], slip["status"]) == \
        (385_050, 385_050, 0, "paid")
    assert slip["paid_at"] and slip["notice"] is None
    one = world.client.get(f"/api/v1/payouts/me/payslips/{slip['id']}", headers=paid.auth)
    assert one.status_code == 200 and one.get_json() == slip
    assert world.client.get(f"/api/v1/payouts/me/payslips/{slip['id']}", headers=stranger.auth).status_code == 404
    history = world.client.get("/api/v1/wallets/me/transactions", headers=paid.auth).get_json()["items"]
    assert (history[0]["code"], history[0]["transfer_id"], history[0]["memo"]) == \
        ("payout", slip["transfer_id"], "工资 · 越秀区财政局 · 三月工资")
    refused = world.client.get("/api/v1/payouts/me/payslips", headers=full.auth).get_json()["items"][0]
    assert refused["status"] == "failed" and refused["notice"]["code"] == "payee_balance_cap"
    assert "升级钱包" in refused["notice"]["message_zh"] and refused["notice"]["upgrade_path"]
    assert world.client.get("/api/v1/payouts/me/payslips", headers=world.officer.auth).status_code == 403


def test_progress_streams_as_server_sent_events_until_the_batch_closes(world):
    a = world.payee("李小明")
    world.app.config["PAYOUT_EVENTS_POLL_S"] = 0.01
    world.app.config["PAYOUT_EVENTS_TIMEOUT_S"] = 5
    world.topup(10_000)
    batch = world.upload(csv_bytes([[a.phone, "李小明", "10", "salary", ""]])).get_json()
    resp = world.get(f"/batches/{batch['id']}/events", world.approver, buffered=False)
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    chunks = iter(resp.response)
    first = sse_events(next(chunks).decode())
    assert first == [("progress", {"id": batch["id"], "status": "validated", "progress": first[0][1]["progress"]})]
    assert first[0][1]["progress"]["lines"]["pending"] == 1
    world.approve(batch)  # pays inline; the stream sees it at its next read
    events = sse_events(b"".join(chunks).decode())
    assert events[0][0] == "progress" and events[0][1]["status"] == "closed"
    assert events[0][1]["progress"]["lines"]["paid"] == 1 and events[0][1]["progress"]["percent"] == 100.0
    assert events[-1] == ("end", {"status": "closed"})
    resp.close()
    consumer = world.factory.consumer()
    assert world.get(f"/batches/{batch['id']}/events", consumer).status_code == 403
