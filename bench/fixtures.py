"""Bulk test data for benchmarks: consumers with funded wallets, merchants, signed orders."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import insert

from backend.auth.models import Role
from backend.auth.service import create_user, issue_token
from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant, MerchantStatus
from backend.merchants.uscc import check_char
from backend.payments import service as payments
from backend.payments.models import Order, OrderKind, OrderStatus
from backend.wallets.models import Wallet
from backend.wallets.service import new_wallet_number


def consumers(n: int, balance_fen: int, prefix: str = "158") -> list[tuple[int, str]]:
    """Create ``n`` consumers with class-2 wallets holding ``balance_fen``; return (user id, token)."""
    bank = db.session.query(OperatorBank).filter_by(code="ICBC").one()
    out = []
    for i in range(n):
        user = create_user(f"{prefix}{i:08d}", "Bench-pass-1", Role.CONSUMER)
        account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[2])
        db.session.add(Wallet(user_id=user.id, bank_id=bank.id, account_id=account_id,
                              wallet_number=new_wallet_number(), wallet_class=2, opened_at=utcnow(),
                              id_number_hash=uuid.uuid4().hex, bank_account_masked="**** 0000"))
        if balance_fen:
            ledger.transfer(bank.issuance_account_id, account_id, balance_fen, TransferCode.TOPUP)
        out.append((user.id, issue_token(user)))
    db.session.commit()
    return out


def merchants(n: int, prefix: str = "157") -> list[tuple[Merchant, str]]:
    """Create ``n`` approved merchants; return (merchant, owner token)."""
    bank = db.session.query(OperatorBank).filter_by(code="ICBC").one()
    out = []
    for i in range(n):
        owner = create_user(f"{prefix}{i:08d}", "Bench-pass-1", Role.MERCHANT_OWNER)
        body = f"91440103MA{i:07d}"
        m = Merchant(owner_user_id=owner.id, name_zh=f"压测商户{i}", name_en=f"Bench Shop {i}",
                     uscc=body + check_char(body), mcc="5814", scenario="food", address="广州", latitude=23.12,
                     longitude=113.25, bank_id=bank.id, status=MerchantStatus.APPROVED,
                     account_id=ledger.open_account(AccountKind.MERCHANT), created_at=utcnow())
        db.session.add(m)
        db.session.flush()
        out.append((m, issue_token(owner)))
    db.session.commit()
    return out


def orders(merchant_list: list[Merchant], count: int, amount_fen: int = 1_000, ttl=timedelta(hours=2)) -> list[str]:
    """Insert ``count`` open dynamic orders spread round-robin over the merchants; return their payloads."""
    now = utcnow()
    expires = (now + ttl).replace(microsecond=0)
    rows, payloads = [], []
    for i in range(count):
        m = merchant_list[i % len(merchant_list)]
        ref = f"SYB{uuid.uuid4().hex[:16].upper()}"
        text, kid = payments.sign_payload(payments._payload(m, amount_fen=amount_fen, reference=ref,
                                                            expires_at=expires))
        rows.append(dict(reference=ref, merchant_id=m.id, kind=OrderKind.DYNAMIC, amount_fen=amount_fen,
                         status=OrderStatus.CREATED, payload=text, key_id=kid, created_at=now, expires_at=expires,
                         refunded_fen=0))
        payloads.append(text)
    for start in range(0, len(rows), 2_000):
        db.session.execute(insert(Order), rows[start:start + 2_000])
    db.session.commit()
    return payloads


def request_line(method: str, path: str, token: str, body: dict | None, idempotent: bool) -> str:
    """Return one line of the wrk request file (see bench/wrk/requests.lua)."""
    key = uuid.uuid4().hex if idempotent else ""
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":")) if body is not None else ""
    assert "\t" not in text and "\n" not in text
    return "\t".join((method, path, token, key, text))


def bulk_consumers(n: int, prefix: str = "166") -> list[int]:
    """Create ``n`` consumers with class-4 wallets in three statements; return their user ids.

    For rushes of thousands of claimants, where the factory path would take minutes. Phones and wallet
    numbers are derived from ``prefix``, so two calls with different prefixes do not collide.
    """
    from sqlalchemy import select

    from backend.auth.models import User
    from backend.ledger.models import Account

    bank_id = db.session.execute(select(OperatorBank.id).where(OperatorBank.code == "ICBC")).scalar_one()
    tier, now = WALLET_TIERS[4], utcnow()
    accounts = db.session.execute(
        insert(Account.__table__).returning(Account.id, sort_by_parameter_order=True),
        [{"kind": AccountKind.WALLET, "balance_fen": 0, "allow_negative": False,
          "balance_cap_fen": tier.balance_cap_fen, "single_cap_fen": tier.single_cap_fen,
          "day_cap_fen": tier.day_cap_fen, "year_cap_fen": tier.year_cap_fen, "day_spent_fen": 0,
          "year_spent_fen": 0} for _ in range(n)],
    ).scalars().all()
    users = db.session.execute(
        insert(User.__table__).returning(User.id, sort_by_parameter_order=True),
        [{"phone": f"{prefix}{i:08d}", "password_hash": "!", "role": Role.CONSUMER, "display_name": "",
          "is_active": True, "created_at": now} for i in range(n)],
    ).scalars().all()
    db.session.execute(insert(Wallet.__table__), [
        {"user_id": u, "bank_id": bank_id, "account_id": a, "wallet_number": f"0{prefix}{i:012d}",
         "wallet_class": 4, "status": "active", "opened_at": now}
        for i, (u, a) in enumerate(zip(users, accounts, strict=True))])
    db.session.commit()
    return users


def bulk_consumers_with_tokens(n: int, prefix: str = "166") -> list[str]:
    """``bulk_consumers`` plus a bearer (access) token for each; return the tokens."""
    return [t for _, t in bulk_consumers_with_ids_and_tokens(n, prefix)]


def bulk_consumers_with_ids_and_tokens(n: int, prefix: str = "166") -> list[tuple[int, str]]:
    """``bulk_consumers``, each signed in (a session row and a signed access token); return (user id, token)."""
    import hashlib
    import secrets

    from backend.auth import tokens
    from backend.auth.models import AuthToken

    users = bulk_consumers(n, prefix)
    now = utcnow()
    sids = db.session.execute(insert(AuthToken.__table__).returning(AuthToken.id, sort_by_parameter_order=True), [
        {"user_id": u, "token_hash": hashlib.sha256(("sy_" + secrets.token_urlsafe(24)).encode()).hexdigest(),
         "created_at": now, "expires_at": now + timedelta(days=1)} for u in users]).scalars().all()
    db.session.commit()
    signed = tokens.issue_many([(u, Role.CONSUMER, "api", sid) for u, sid in zip(users, sids, strict=True)])
    return [(u, t) for u, (t, _) in zip(users, signed, strict=True)]


def live_red_packet_campaign(merchant: Merchant, packets: int, budget_fen: int) -> int:
    """Create, fund and launch a random-split grab campaign in Yongqingfang; return its id."""
    from sqlalchemy import select

    from campaigns import service as campaigns
    from campaigns.eligibility import placement_table
    from zones.models import Zone

    zone = db.session.execute(select(Zone.id).where(Zone.code == "yongqingfang")).scalar_one()
    table = placement_table()
    if table is not None:
        values = {"merchant_id": merchant.id, "zone_id": zone, "latitude": 23.1184, "longitude": 113.2446,
                  "placed_at": utcnow()}
        db.session.execute(table.delete().where(table.c.merchant_id == merchant.id))  # re-place it inside
        db.session.execute(table.insert().values({k: v for k, v in values.items() if k in table.c}))
    # Fresh people per campaign, so that a run can launch several (the rush and the keep-alive rush).
    pilot = create_user(f"156{uuid.uuid4().int % 10**8:08d}", "Bench-pass-1", Role.PILOT_ADMIN)
    funder_phone = f"155{uuid.uuid4().int % 10**8:08d}"
    funder = create_user(funder_phone, "Bench-pass-1", Role.CONSUMER)
    bank = db.session.query(OperatorBank).filter_by(code="ICBC").one()
    account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[1])
    db.session.add(Wallet(user_id=funder.id, bank_id=bank.id, account_id=account_id,
                          wallet_number=new_wallet_number(), wallet_class=1, opened_at=utcnow(),
                          id_number_hash=uuid.uuid4().hex, bank_account_masked="**** 0001"))
    ledger.transfer(bank.issuance_account_id, account_id, budget_fen, TransferCode.TOPUP)
    db.session.commit()
    funder_id = campaigns.add_funder(f"Bench fund {funder_phone}", funder_phone, None).id
    now = utcnow()
    c = campaigns.create(pilot, {
        "name": "压测红包", "kind": "grab", "split": "random", "funder_id": funder_id, "zone_ids": [zone],
        "merchant_ids": [merchant.id], "packet_count": packets, "budget_fen": budget_fen,
        "claim_starts_at": now - timedelta(minutes=1), "claim_ends_at": now + timedelta(hours=1),
        "spend_ends_at": now + timedelta(hours=2)})
    campaigns.launch(pilot, c.id, lambda _: {})
    return c.id
