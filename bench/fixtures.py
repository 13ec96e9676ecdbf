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
