"""A paying organisation with its officer and approver, payees, and batch files."""

from __future__ import annotations

import csv
import io
import itertools
import uuid
from dataclasses import dataclass, field

from backend.auth.models import Role
from backend.extensions import db
from backend.merchants.uscc import check_char
from tests.factories import Factory, Person

API = "/api/v1/payouts"
ORG_ACCOUNT = "6222020200112233446"
HEADER = ["phone", "name", "amount", "category", "memo"]
_usccs = itertools.count(1)


def uscc() -> str:
    first17 = f"11440100MB{next(_usccs):07d}"
    return first17 + check_char(first17)


def csv_bytes(rows, *, header=HEADER, encoding="utf-8") -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    if header:
        writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode(encoding)


@dataclass
class World:
    app: object
    client: object
    factory: Factory
    pilot: Person
    org_id: int
    officer: Person
    approver: Person
    payees: list = field(default_factory=list)

    def post(self, path, person, body=None, *, key: str | None = "auto", **kw):
        headers = dict(person.auth)
        if key:
            headers["Idempotency-Key"] = uuid.uuid4().hex if key == "auto" else key
        return self.client.post(API + path, json=body, headers=headers, **kw)

    def get(self, path, person, **kw):
        return self.client.get(API + path, headers=person.auth, **kw)

    def upload(self, data: bytes, *, person=None, name="batch.csv", reference=None, org_id=None, language=None):
        person = person or self.officer
        headers = dict(person.auth, **({"Accept-Language": language} if language else {}))
        return self.client.post(
            f"{API}/organisations/{org_id or self.org_id}/batches", headers=headers,
            data={"reference": reference or uuid.uuid4().hex[:12], "title": "三月工资",
                  "file": (io.BytesIO(data), name)},
            content_type="multipart/form-data")

    def topup(self, amount_fen: int, person=None):
        resp = self.post(f"/organisations/{self.org_id}/topup", person or self.officer, {"amount_fen": amount_fen})
        assert resp.status_code == 201, resp.get_json()
        return resp

    def approve(self, batch: dict, person=None, **overrides):
        body = {"expected_total_fen": batch["total_fen"], "expected_line_count": batch["valid_count"]}
        body.update(overrides)
        return self.post(f"/batches/{batch['id']}/approve", person or self.approver, body)

    def payee(self, name="李小明", **kw) -> Person:
        person = self.factory.consumer(display_name=name, **kw)
        self.payees.append(person)
        return person

    def org_balance(self) -> int:
        return self.get(f"/organisations/{self.org_id}", self.officer).get_json()["balance_fen"]


def make_org(client, factory, pilot, name="越秀区财政局", **kw) -> int:
    body = {"name": name, "kind": "department", "uscc": uscc(), "district": "越秀区", "member_unit": True,
            "bank_code": "ICBC", "bank_account_number": ORG_ACCOUNT, **kw}
    resp = client.post(f"{API}/organisations", json=body, headers=pilot.auth)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def add_member(client, factory, pilot, org_id, role: str, name: str) -> Person:
    from tests.factories import PASSWORD, next_phone

    phone = next_phone()
    resp = client.post(f"{API}/organisations/{org_id}/members", headers=pilot.auth,
                       json={"phone": phone, "role": role, "display_name": name, "password": PASSWORD})
    assert resp.status_code == 201, resp.get_json()
    login = client.post("/api/v1/auth/login", json={"phone": phone, "password": PASSWORD}).get_json()
    from backend.auth.models import User

    return Person(db.session.get(User, login["user"]["id"]), login["token"], phone)


def make_world(app, client, factory) -> World:
    pilot = factory.user(Role.PILOT_ADMIN)
    org_id = make_org(client, factory, pilot)
    officer = add_member(client, factory, pilot, org_id, "officer", "张会计")
    approver = add_member(client, factory, pilot, org_id, "approver", "王处长")
    return World(app, client, factory, pilot, org_id, officer, approver)


def bulk_payees(n: int, *, start: int = 0) -> list[tuple[str, str]]:
    """Create ``n`` consumers with class-4 wallets in bulk (setup only: empty accounts, no money);
    return their (phone, name)."""
    from sqlalchemy import insert

    from backend.auth.models import User
    from backend.banks.models import OperatorBank
    from backend.clock import utcnow
    from backend.config import WALLET_TIERS
    from backend.ledger.models import Account, AccountKind
    from backend.wallets.models import Wallet

    A, U, W = Account.__table__, User.__table__, Wallet.__table__
    tier = WALLET_TIERS[4]
    now = utcnow()
    bank_id = db.session.query(OperatorBank).filter_by(code="ICBC").one().id
    accounts = db.session.execute(insert(A).returning(A.c.id, sort_by_parameter_order=True), [
        {"kind": AccountKind.WALLET, "allow_negative": False, "balance_fen": 0, "balance_cap_fen": tier.balance_cap_fen,
         "single_cap_fen": tier.single_cap_fen, "day_cap_fen": tier.day_cap_fen, "year_cap_fen": tier.year_cap_fen}
        for _ in range(n)]).scalars().all()
    people = [(f"137{start + i:08d}", f"员{start + i:05d}工") for i in range(n)]
    users = db.session.execute(insert(U).returning(U.c.id, sort_by_parameter_order=True), [
        {"phone": phone, "password_hash": "x", "role": Role.CONSUMER, "display_name": name, "is_active": True,
         "created_at": now} for phone, name in people]).scalars().all()
    db.session.execute(insert(W), [
        {"user_id": uid, "bank_id": bank_id, "account_id": aid, "wallet_number": f"0022{uid:012d}", "wallet_class": 4,
         "status": "active", "opened_at": now} for uid, aid in zip(users, accounts, strict=True)])
    db.session.commit()
    return people
