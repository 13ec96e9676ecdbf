"""Risk checks before a transfer moves money: warnings the consumer must read and confirm.

The rules are data (:data:`RULES`): each has a code, its thresholds and the
plain words the app shows. When any fires, the money gate refuses the
transfer (after the ledger accepted it, in its transaction) with ``428 risk_confirmation_required``, the warnings and a
confirmation token bound to this payer, payee and amount; the app shows the
warnings and, if the consumer goes ahead, sends the same transfer again (with
a new Idempotency-Key) and the token in the ``X-Risk-Confirmation`` header.
A token works once (a row per token, inserted in the transfer's own
transaction, so a refused transfer does not use it up) and only for its own
payee and amount.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app, g, has_request_context, request
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backend.clock import utcnow
from backend.errors import Conflict, DomainError
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from backend.ledger.models import Transfer
from backend.ledger.service import TransferCode
from backend.sql import insert_for
from backend.wallets.models import Wallet
from protection.models import EntryStatus, FraudEntry, KnownDevice, RiskConfirmation

HEADER = "X-Risk-Confirmation"
TOKEN_TTL = timedelta(minutes=5)


@dataclass(frozen=True)
class Rule:
    code: str
    title_zh: str
    text_zh: str
    text_en: str


#: The rules and their thresholds (fen, local hours, days). Each fires on its example, stays quiet on its
#: counter-example (tests/protection/test_risk.py).
RULES = {
    "first_time_payee": Rule("first_time_payee", "首次向对方转账",
                             "你从未向这个人转过账。请确认你认识对方，并通过其他方式核实过收款人。",
                             "You have never sent money to this person. Make sure you know them and have checked "
                             "who they are some other way."),
    "far_above_usual": Rule("far_above_usual", "金额远高于平时",
                            "这笔转账远高于你过去 90 天的转账和付款。骗子常以退款、中奖、投资为由要求大额转账。",
                            "This is far more than you usually send or pay. Scammers ask for large transfers "
                            "claiming refunds, prizes or investments."),
    "night_large": Rule("night_large", "深夜大额转账", "深夜大额转账风险较高。如有人催促你立即转账，请先停下来核实。",
                        "Large transfers late at night are risky. If someone is rushing you, stop and check first."),
    "new_device": Rule("new_device", "新设备转账",
                       "这是你第一次用这台设备转账。如果不是你本人在操作，或有人让你在新手机上登录，请立即停止。",
                       "This is the first time you send money from this device. If it is not you, or someone "
                       "asked you to sign in on a new phone, stop now."),
    "payee_reported": Rule("payee_reported", "收款人被他人举报",
                           "其他用户举报过这个收款人涉嫌诈骗（尚在核实）。请谨慎。",
                           "Other people have reported this payee as a possible scam (not yet confirmed). "
                           "Be careful."),
}
THRESHOLDS = {
    "first_time_payee_min_fen": 50_000,  # ¥500
    "far_above_usual_factor": 5,  # × the largest transfer or payment of the last 90 days
    "far_above_usual_min_fen": 20_000,  # ¥200
    "history_days": 90,
    "night_start_hour": 23,
    "night_end_hour": 6,
    "night_large_min_fen": 100_000,  # ¥1,000
}
#: The cooling period (冷静期): a first-time transfer to a payee of at least ``min_fen`` is accepted and held
#: for ``minutes`` before it completes; the payer can cancel it meanwhile (protection.cooling). Applies where
#: PROTECTION_COOLING is on.
COOLING = {"min_fen": 500_000, "minutes": 30}  # ¥5,000; half an hour
COOLING_RULE = Rule("cooling_period", "大额首次转账冷静期",
                    "你第一次向这个人转这么大一笔钱。转账将在冷静期结束后到账，期间你可以随时取消；取消后钱不会转出。",
                    "This is your first transfer of this size to this person. It completes when the cooling "
                    "period is over; until then you can cancel it, and then no money moves.")
DEVICE_HEADER = "X-Device-Id"  # the apps' own id of the phone (payclient sends it on every request)


class ConfirmationRequired(DomainError):
    status = 428
    code = "risk_confirmation_required"
    title = "Please confirm this transfer"


def _account(user_id: int) -> int | None:
    return db.session.execute(select(Wallet.account_id).where(Wallet.user_id == user_id)).scalar_one_or_none()


def first_time(payer: int | None, payee: int | None, current: int | None) -> bool:
    """Return whether account ``payer`` never sent a transfer to ``payee`` before transfer ``current``."""
    before = db.session.execute(select(Transfer.id).where(
        Transfer.debit_account_id == payer, Transfer.credit_account_id == payee, Transfer.id != current,
        Transfer.code == TransferCode.TRANSFER).limit(1)).first()
    return before is None


def latest_debit(payer: int | None) -> int | None:
    """Return the id of the payer account's latest debit (the transfer being judged, posted and locked)."""
    return db.session.execute(select(func.max(Transfer.id)).where(Transfer.debit_account_id == payer)).scalar()


def device_hash(device: str | None = None) -> str | None:
    """Return the hash of the calling device (``X-Device-Id``, or ``device``), ``None`` when none was sent."""
    if device is None and has_request_context():
        device = request.headers.get(DEVICE_HEADER, "")
    device = (device or "").strip()[:64]
    return hashlib.sha256(b"device:" + device.encode()).hexdigest() if device else None


def new_device(user_id: int, digest: str | None) -> bool:
    """Return whether ``user_id`` moved money from other devices before but never from this one."""
    if digest is None:
        return False
    known = db.session.execute(select(KnownDevice.device_hash).where(KnownDevice.user_id == user_id)).scalars().all()
    return bool(known) and digest not in known


def remember_device(user_id: int, digest: str | None = None) -> None:
    """Record the calling device as one ``user_id`` moves money from (no-op without a device id)."""
    digest = digest or device_hash()
    if digest is None:
        return
    db.session.execute(insert_for(KnownDevice.__table__).values(user_id=user_id, device_hash=digest,
                                                                first_seen_at=utcnow()).on_conflict_do_nothing())


def fired(move: MoneyMove, now=None, device: str | None = None) -> list[str]:
    """Return the codes of the rules that fire for a transfer ``move`` (empty when none does); ``device``
    defaults to the request's ``X-Device-Id``."""
    if move.kind != MoveKind.TRANSFER or move.from_user_id is None or move.to_user_id is None:
        return []
    t = THRESHOLDS
    amount = move.amount_fen or 0
    payer, payee = _account(move.from_user_id), _account(move.to_user_id)
    codes = []
    since = (now or utcnow()) - timedelta(days=t["history_days"])
    # The transfer being judged is already posted in this transaction (the payer's account row is locked
    # until it ends, so it is the payer's latest debit): history is everything before it.
    current = latest_debit(payer)
    if amount >= t["first_time_payee_min_fen"] and first_time(payer, payee, current):
        codes.append("first_time_payee")
    if amount >= t["far_above_usual_min_fen"]:
        largest = db.session.execute(select(func.max(Transfer.amount_fen)).where(
            Transfer.debit_account_id == payer, Transfer.created_at >= since, Transfer.id != current,
            Transfer.code.in_(TransferCode.LIMITED), Transfer.reverses_id.is_(None))).scalar()
        if largest and amount > largest * t["far_above_usual_factor"]:
            codes.append("far_above_usual")
    from backend.clock import local_zone

    hour = (now or utcnow()).astimezone(local_zone()).hour
    if amount >= t["night_large_min_fen"] and (hour >= t["night_start_hour"] or hour < t["night_end_hour"]):
        codes.append("night_large")
    if new_device(move.from_user_id, device_hash(device)):
        codes.append("new_device")
    reported = db.session.execute(select(FraudEntry.id).where(
        FraudEntry.user_id == move.to_user_id, FraudEntry.status == EntryStatus.PENDING).limit(1)).first()
    if reported is not None:
        codes.append("payee_reported")
    return codes


def use_again_after_rollback() -> None:
    """Record once more the confirmation token this request used (its row was rolled back with a savepoint,
    as when a transfer is held for its cooling period instead of posted), so it cannot confirm another."""
    used = g.pop("risk_confirmation", None) if has_request_context() else None
    if used is not None:
        db.session.execute(insert_for(RiskConfirmation.__table__).values(used_at=utcnow(), **used)
                           .on_conflict_do_nothing())


def _sign(claims: dict) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode()).decode()
    mac = hmac.new(current_app.config["SECRET_KEY"].encode(), b"risk:" + body.encode(), hashlib.sha256).hexdigest()
    return f"{body}.{mac}"


def _open(token: str) -> dict | None:
    body, _, mac = token.partition(".")
    want = hmac.new(current_app.config["SECRET_KEY"].encode(), b"risk:" + body.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(mac, want):
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(body.encode()))
    except ValueError:
        return None


def _bound(move: MoneyMove) -> dict:
    return {"u": move.from_user_id, "p": move.to_user_id, "a": move.amount_fen, "k": move.kind}


def check(move: MoneyMove) -> None:
    """Refuse a risky transfer (just posted, uncommitted) unless it carries a valid, unused confirmation
    token for exactly it.

    Raises ``ConfirmationRequired`` (428, with ``warnings`` and a fresh
    ``confirmation_token``) or ``Conflict`` (risk_confirmation_used).
    """
    if not current_app.config.get("PROTECTION_RISK_CHECKS", False):
        # Off by default until the consumer app shows the warnings and resends with the token: a 428 it
        # cannot answer would block every large first transfer.
        return
    codes = fired(move)
    if not codes:
        if move.kind == MoveKind.TRANSFER and move.from_user_id is not None:
            remember_device(move.from_user_id)
        return
    token = request.headers.get(HEADER, "").strip() if has_request_context() else ""
    claims = _open(token) if token else None
    now = utcnow()
    if claims and {k: claims.get(k) for k in ("u", "p", "a", "k")} == _bound(move) and claims.get("exp", 0) > \
            now.timestamp():
        try:
            with db.session.begin_nested():
                db.session.add(RiskConfirmation(jti=claims["j"], user_id=move.from_user_id, used_at=now,
                                                rules=",".join(codes)))
        except IntegrityError:
            raise Conflict("This confirmation was already used; confirm the new transfer again.",
                           code="risk_confirmation_used", field=HEADER) from None
        remember_device(move.from_user_id)
        if has_request_context():
            # A transfer held for its cooling period rolls this back with its posting: the hold uses it up again.
            g.risk_confirmation = {"jti": claims["j"], "user_id": move.from_user_id, "rules": ",".join(codes)}
        return
    fresh = _sign({**_bound(move), "exp": int((now + TOKEN_TTL).timestamp()), "j": secrets.token_hex(12)})
    raise ConfirmationRequired(
        "Read these warnings. To go ahead, send the same transfer again with the token in the "
        f"{HEADER} header.", warnings=[{"code": c, "title_zh": RULES[c].title_zh, "text_zh": RULES[c].text_zh,
                                        "text_en": RULES[c].text_en} for c in codes],
        confirmation_token=fresh, expires_in_seconds=int(TOKEN_TTL.total_seconds()),
        token_mismatch=bool(token))
