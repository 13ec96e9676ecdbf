"""Prepaid use cases: acceptance and review, regulators, plans within the limits, purchase into a per-contract
escrow, release per use, refunds, and the closure run that refunds a failed merchant's contracts.

Money moves only through ``backend.ledger.service``. A contract's row is the gate of its escrow: every
release and refund first changes ``units_left``/``status`` with one conditional UPDATE (so two of them
can never take the same unit), then moves exactly the fen that change frees, in the same transaction.
Lock order: the contract row, then the accounts in ascending id (``ledger.lock_accounts``).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import timedelta

from sqlalchemy import DateTime, case, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.auth.service import create_user
from backend.clock import as_utc, utcnow
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.merchants.models import Merchant, MerchantStaff, MerchantStatus
from backend.merchants.service import can_collect
from backend.wallets.models import Wallet, WalletStatus
from prepaid import rules
from prepaid.models import (
    INDUSTRIES,
    TRAINING,
    Closure,
    Contract,
    ContractStatus,
    Plan,
    PlanKind,
    PlanStatus,
    PrepaidMerchant,
    PrepaidMerchantStatus,
    RefundKind,
    Regulator,
    RegulatorIndustry,
    Release,
)
from prepaid.rules import FEE, PURCHASE, REFUND, RELEASE, due, regulator_industries  # noqa: F401 - service.X

DAYS_PER_MONTH = 30  # a time pass month is 30 days of service
DEFAULT_VALID_DAYS = 365
MAX_VALID_DAYS = 3 * 365
MAX_SPLIT_PARTIES = 5
BP = 10_000

PM = PrepaidMerchant.__table__
C = Contract.__table__


def yuan(fen: int) -> str:
    """Return ``fen`` as ¥ with two decimals, computed in integers."""
    return f"¥{fen // 100:,}.{fen % 100:02d}"


# ---------------------------------------------------------------- who sees what


def visible_merchants(user: User):
    """Return a select of ``(PrepaidMerchant, Merchant)`` rows ``user`` may see.

    Owners and cashiers: their own; bank reviewers: their bank's; regulators: their industries'; the
    pilot office: all; everyone else: approved ones.
    """
    q = select(PrepaidMerchant, Merchant).join(Merchant, Merchant.id == PrepaidMerchant.merchant_id)
    if user.role == Role.MERCHANT_OWNER:
        return q.where(Merchant.owner_user_id == user.id)
    if user.role == Role.CASHIER:
        return q.join(MerchantStaff, MerchantStaff.merchant_id == Merchant.id).where(MerchantStaff.user_id == user.id)
    if user.role == Role.BANK_REVIEWER:
        return q.where(Merchant.bank_id == user.bank_id)
    if user.role == Role.INDUSTRY_REGULATOR:
        return q.where(PrepaidMerchant.industry.in_(
            select(RegulatorIndustry.industry).where(RegulatorIndustry.user_id == user.id)))
    if user.role == Role.PILOT_ADMIN:
        return q
    return q.where(PrepaidMerchant.status == PrepaidMerchantStatus.APPROVED)


def get_merchant(user: User, prepaid_merchant_id: int) -> tuple[PrepaidMerchant, Merchant]:
    """Return the prepaid merchant if ``user`` may see it; raise ``NotFound`` otherwise (no existence leak)."""
    row = db.session.execute(visible_merchants(user).where(PrepaidMerchant.id == prepaid_merchant_id)).one_or_none()
    if row is None:
        raise NotFound("No such prepaid merchant.", code="prepaid_merchant_not_found")
    return row[0], row[1]


def visible_contracts(user: User):
    """Return a select of the contracts ``user`` may see: a consumer theirs, a merchant's staff their shop's,
    a regulator its industries', a bank reviewer its merchants', the pilot office all."""
    q = select(Contract)
    if user.role == Role.CONSUMER:
        return q.where(Contract.consumer_user_id == user.id)
    if user.role == Role.PILOT_ADMIN:
        return q
    if user.role in (Role.MERCHANT_OWNER, Role.CASHIER, Role.BANK_REVIEWER, Role.INDUSTRY_REGULATOR):
        ids = visible_merchants(user).with_only_columns(PrepaidMerchant.id)
        return q.where(Contract.prepaid_merchant_id.in_(ids))
    return q.where(False)


def get_contract(user: User, contract_id: int) -> Contract:
    """Return the contract if ``user`` may see it; raise ``NotFound``."""
    contract = db.session.execute(visible_contracts(user).where(Contract.id == contract_id)).scalar_one_or_none()
    if contract is None:
        raise NotFound("No such contract.", code="contract_not_found")
    return contract


# ---------------------------------------------------------------- regulators


def add_regulator(phone: str, password: str, display_name: str, authority: str, industries: list[str]) -> User:
    """Create an industry regulator's login supervising ``industries``; commit; return the user."""
    if not industries or set(industries) - set(INDUSTRIES):
        raise ValidationFailed(f"Industries must be some of {', '.join(INDUSTRIES)}.", field="industries")
    user = create_user(phone, password, Role.INDUSTRY_REGULATOR, display_name=display_name)
    db.session.add(Regulator(user_id=user.id, authority=authority, created_at=utcnow()))
    db.session.flush()
    db.session.add_all(RegulatorIndustry(user_id=user.id, industry=i) for i in sorted(set(industries)))
    db.session.commit()
    return user


# ---------------------------------------------------------------- acceptance and review


def apply(owner: User, merchant_id: int, industry: str) -> PrepaidMerchant:
    """Apply for prepaid acceptance of the owner's approved merchant in ``industry``; commit; return it.

    A rejected application is filed again (back to pending). Raises ``NotFound``, ``Conflict``
    (``merchant_not_active``, ``already_applied``).
    """
    merchant = db.session.execute(select(Merchant).where(Merchant.id == merchant_id,
                                                         Merchant.owner_user_id == owner.id)).scalar_one_or_none()
    if merchant is None:
        raise NotFound("No such merchant of yours.", code="merchant_not_found", field="merchant_id")
    if merchant.status != MerchantStatus.APPROVED:
        raise Conflict("Only a merchant its bank approved can apply for prepaid acceptance.",
                       code="merchant_not_active", field="merchant_id")
    now = utcnow()
    moved = db.session.execute(
        update(PM).where(PM.c.merchant_id == merchant.id, PM.c.status == PrepaidMerchantStatus.REJECTED)
        .values(status=PrepaidMerchantStatus.PENDING, industry=industry, applied_by_user_id=owner.id,
                reviewed_by_user_id=None, review_reason=None, reviewed_at=None, created_at=now)
    ).rowcount
    if not moved:
        db.session.add(PrepaidMerchant(merchant_id=merchant.id, industry=industry, applied_by_user_id=owner.id,
                                       status=PrepaidMerchantStatus.PENDING, created_at=now))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This merchant has already applied for prepaid acceptance.", code="already_applied",
                       field="merchant_id") from None
    return db.session.execute(select(PrepaidMerchant).where(PrepaidMerchant.merchant_id == merchant.id)).scalar_one()


def review(reviewer: User, prepaid_merchant_id: int, decision: str, reason: str) -> PrepaidMerchant:
    """Approve or reject a pending application of the reviewer's bank; commit; return it.

    Raises ``NotFound`` (other banks' applications are invisible), ``Conflict`` (``illegal_transition``).
    """
    pm, merchant = get_merchant(reviewer, prepaid_merchant_id)
    if reviewer.role != Role.BANK_REVIEWER or merchant.bank_id != reviewer.bank_id:
        raise Forbidden("Only a reviewer of the merchant's operator bank can review it.", code="not_your_bank")
    target = PrepaidMerchantStatus.APPROVED if decision == "approve" else PrepaidMerchantStatus.REJECTED
    moved = db.session.execute(
        update(PM).where(PM.c.id == pm.id, PM.c.status == PrepaidMerchantStatus.PENDING)
        .values(status=target, reviewed_by_user_id=reviewer.id, review_reason=reason, reviewed_at=utcnow())
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {pm.status} application cannot be {target}.", code="illegal_transition")
    db.session.commit()
    db.session.refresh(pm)
    return pm


def change_status(user: User, prepaid_merchant_id: int, target: str, reason: str) -> tuple[PrepaidMerchant,
                                                                                          Closure | None]:
    """Suspend, close or reinstate a prepaid merchant (its bank's reviewers, its industry's regulators, the
    pilot office); commit. Suspending or closing opens a closure run that refunds every open contract
    (the caller enqueues ``tasks.run_closure``). Returns the merchant and the closure, if any.

    Raises ``NotFound``, ``Forbidden``, ``Conflict`` (``illegal_transition``).
    """
    pm, merchant = get_merchant(user, prepaid_merchant_id)
    allowed = (user.role == Role.PILOT_ADMIN
               or (user.role == Role.BANK_REVIEWER and merchant.bank_id == user.bank_id)
               or (user.role == Role.INDUSTRY_REGULATOR and pm.industry in regulator_industries(user.id)))
    if not allowed:
        raise Forbidden("Only the merchant's bank, its industry's regulator or the pilot office can do this.",
                        code="not_your_merchant")
    now = utcnow()
    moved = db.session.execute(
        update(PM).where(PM.c.id == pm.id, PM.c.status.in_(PrepaidMerchantStatus.sources_of(target)))
        .values(status=target, status_reason=reason, status_changed_by_user_id=user.id, status_changed_at=now)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {pm.status} prepaid merchant cannot become {target}.", code="illegal_transition",
                       field="status")
    closure = None
    if target in PrepaidMerchantStatus.FAILED:
        open_count = db.session.execute(select(func.count()).select_from(C).where(
            C.c.prepaid_merchant_id == pm.id, C.c.status == ContractStatus.ACTIVE)).scalar_one()
        closure = Closure(prepaid_merchant_id=pm.id, target_status=target, reason=reason,
                          requested_by_user_id=user.id, status="running", counted=open_count, created_at=now)
        db.session.add(closure)
    db.session.commit()
    db.session.refresh(pm)
    return pm, closure


# ---------------------------------------------------------------- plans


def _managed(owner: User, prepaid_merchant_id: int) -> tuple[PrepaidMerchant, Merchant]:
    pm, merchant = get_merchant(owner, prepaid_merchant_id)
    if owner.role != Role.MERCHANT_OWNER or merchant.owner_user_id != owner.id:
        raise Forbidden("Only the merchant's owner can do this.", code="not_your_merchant")
    return pm, merchant


def _resolve_split(merchant: Merchant, split: list[dict] | None) -> list[dict]:
    """Return the split rule with each party's ledger account, the selling merchant first.

    Raises ``ValidationFailed`` (field ``split``) when shares do not add up to 10,000 basis points, a
    party is named twice or twice over, or is not an approved merchant / an open wallet.
    """
    if not split:
        return [{"merchant_id": merchant.id, "account_id": merchant.account_id, "share_bp": BP,
                 "label": merchant.name_zh}]
    if len(split) > MAX_SPLIT_PARTIES:
        raise ValidationFailed(f"A split has at most {MAX_SPLIT_PARTIES} parties.", field="split")
    total = sum(p["share_bp"] for p in split)
    if total != BP:
        raise ValidationFailed(f"The shares add up to {total} basis points; they must add up to {BP} (100%).",
                               field="split")
    parties, seen = [], set()
    for i, p in enumerate(split):
        if ("merchant_id" in p) == ("wallet_phone" in p):
            raise ValidationFailed("Each party names exactly one of merchant_id and wallet_phone.",
                                   field=f"split.{i}")
        if "merchant_id" in p:
            other = db.session.get(Merchant, p["merchant_id"])
            if other is None or other.status != MerchantStatus.APPROVED or other.account_id is None:
                raise ValidationFailed(f"Merchant {p['merchant_id']} is not an approved merchant.",
                                       field=f"split.{i}.merchant_id")
            party = {"merchant_id": other.id, "account_id": other.account_id, "label": other.name_zh}
        else:
            from backend.auth.service import normalize_phone

            phone = normalize_phone(p["wallet_phone"], field=f"split.{i}.wallet_phone")
            wallet = db.session.execute(select(Wallet).join(User, User.id == Wallet.user_id)
                                        .where(User.phone == phone)).scalar_one_or_none()
            if wallet is None or wallet.status != WalletStatus.ACTIVE:
                raise ValidationFailed("No open wallet has this phone number.", field=f"split.{i}.wallet_phone")
            party = {"wallet_number": wallet.wallet_number, "account_id": wallet.account_id,
                     "label": f"wallet …{wallet.wallet_number[-4:]}"}
        if party["account_id"] in seen:
            raise ValidationFailed("A party appears twice in the split.", field=f"split.{i}")
        seen.add(party["account_id"])
        parties.append({**party, "share_bp": p["share_bp"]})
    # The seller (if it takes a share) comes first: it receives the fen that rounding leaves over.
    parties.sort(key=lambda party: party.get("merchant_id") != merchant.id)
    return parties


def check_plan(industry: str, data: dict) -> dict:
    """Return the plan's derived terms (price, units) after checking them against the rules.

    Raises ``RuleRefused`` naming the rule and the field, or ``ValidationFailed``.
    """
    kind = data["kind"]
    if kind == PlanKind.SESSIONS:
        for name in ("units", "unit_price_fen"):
            if data.get(name) is None:
                raise ValidationFailed("A session pack needs units (sessions) and unit_price_fen.", field=name)
        price, units = data["units"] * data["unit_price_fen"], data["units"]
        if industry == TRAINING and units > rules.value("training_max_sessions"):
            raise rules.refuse("training_max_sessions",
                               f"{units} sessions is more than a training plan may sell in advance", field="units")
    elif kind == PlanKind.STORED_VALUE:
        if data.get("price_fen") is None:
            raise ValidationFailed("A stored-value plan needs price_fen.", field="price_fen")
        price, units = data["price_fen"], data["price_fen"] + data.get("bonus_fen", 0)
    else:
        if data.get("price_fen") is None or data.get("months") is None:
            raise ValidationFailed("A time pass needs price_fen and months.",
                                   field="months" if data.get("price_fen") is not None else "price_fen")
        price, units = data["price_fen"], data["months"] * DAYS_PER_MONTH
        if industry == TRAINING and data["months"] > rules.value("training_max_months"):
            raise rules.refuse("training_max_months",
                               f"{data['months']} months is more than a training plan may sell in advance",
                               field="months")
    cap = rules.value("named_purchase_cap_fen")
    if price > cap:
        raise rules.refuse("named_purchase_cap_fen", f"The price {yuan(price)} is above {yuan(cap)}",
                           field="price_fen" if kind != PlanKind.SESSIONS else "unit_price_fen")
    min_cooling = rules.value("cooling_off_min_days")
    cooling = data.get("cooling_off_days")
    cooling = min_cooling if cooling is None else cooling
    if cooling < min_cooling:
        raise rules.refuse("cooling_off_min_days", f"A cooling-off period of {cooling} days is too short",
                           field="cooling_off_days")
    fee_cap = rules.value("refund_fee_cap_bp")
    if data.get("refund_fee_bp", 0) > fee_cap:
        raise rules.refuse("refund_fee_cap_bp", f"A refund fee of {data['refund_fee_bp']} basis points is too high",
                           field="refund_fee_bp")
    valid_days = units if kind == PlanKind.TIME_PASS else data.get("valid_days") or DEFAULT_VALID_DAYS
    if valid_days < cooling:
        raise ValidationFailed("The plan must stay valid at least through its cooling-off period.",
                               field="valid_days")
    return {"price_fen": price, "units": units, "cooling_off_days": cooling, "valid_days": valid_days}


def publish_plan(owner: User, prepaid_merchant_id: int, data: dict) -> Plan:
    """Publish a plan of the owner's approved prepaid merchant; commit; return it.

    Raises ``RuleRefused`` (outside the limits, naming the rule and field), ``ValidationFailed``
    (``split`` that does not add up, missing terms), ``Conflict`` (``prepaid_not_approved``).
    """
    pm, merchant = _managed(owner, prepaid_merchant_id)
    if pm.status != PrepaidMerchantStatus.APPROVED:
        raise Conflict("Plans can be published once the bank approved prepaid acceptance.",
                       code="prepaid_not_approved")
    terms = check_plan(pm.industry, data)
    split = _resolve_split(merchant, data.get("split"))
    plan = Plan(prepaid_merchant_id=pm.id, kind=data["kind"], name=data["name"].strip(),
                price_fen=terms["price_fen"], units=terms["units"],
                unit_price_fen=data.get("unit_price_fen") if data["kind"] == PlanKind.SESSIONS else None,
                bonus_fen=data.get("bonus_fen", 0) if data["kind"] == PlanKind.STORED_VALUE else 0,
                months=data.get("months") if data["kind"] == PlanKind.TIME_PASS else None,
                valid_days=terms["valid_days"], cooling_off_days=terms["cooling_off_days"],
                refund_fee_bp=data.get("refund_fee_bp", 0), split_json=json.dumps(split, ensure_ascii=False),
                status=PlanStatus.ACTIVE, created_at=utcnow())
    db.session.add(plan)
    db.session.commit()
    return plan


def withdraw_plan(owner: User, plan_id: int) -> Plan:
    """Stop selling a plan (contracts already bought keep their terms); commit; return it."""
    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise NotFound("No such plan.", code="plan_not_found")
    _managed(owner, plan.prepaid_merchant_id)
    plan.status = PlanStatus.WITHDRAWN
    db.session.commit()
    return plan


def visible_plans(user: User):
    """Return a select of ``(Plan, PrepaidMerchant, Merchant)``: active plans of merchants ``user`` may see
    (consumers: approved merchants only)."""
    sub = visible_merchants(user).subquery()
    return (select(Plan, PrepaidMerchant, Merchant)
            .join(PrepaidMerchant, PrepaidMerchant.id == Plan.prepaid_merchant_id)
            .join(Merchant, Merchant.id == PrepaidMerchant.merchant_id)
            .where(PrepaidMerchant.id.in_(select(sub.c.id)), Plan.status == PlanStatus.ACTIVE))


def merchants_in_zone(zone_id: int):
    """Return a select of the ids of merchants the zones plug-in placed in ``zone_id`` (none without it).

    The table is looked up by name, so prepaid works, and imports nothing of zones, when zones is absent.
    """
    table = db.metadata.tables.get("zone_merchants")
    if table is None:
        return select(Merchant.id).where(False)
    return select(table.c.merchant_id).where(table.c.zone_id == zone_id)


def get_plan(user: User, plan_id: int) -> tuple[Plan, PrepaidMerchant, Merchant]:
    """Return the plan with its merchant if ``user`` may see it; raise ``NotFound``."""
    row = db.session.execute(visible_plans(user).where(Plan.id == plan_id)).one_or_none()
    if row is None:
        raise NotFound("No such plan.", code="plan_not_found")
    return row[0], row[1], row[2]


# ---------------------------------------------------------------- purchase = contract


def terms_hash(terms: dict) -> str:
    """Return the SHA-256 (hex) of the terms' canonical JSON: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(terms, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _new_number() -> str:
    return "PP" + "".join(secrets.choice("0123456789") for _ in range(16))


def purchase(consumer: User, plan_id: int) -> Contract:
    """Buy a plan: move its price from the consumer's wallet into a new escrow account of this contract,
    and record the terms and their hash. Runs in the caller's transaction (no commit).

    Raises ``NotFound``, ``Conflict`` (``prepaid_not_approved``: the merchant is not selling),
    ``RuleRefused`` (the purchase cap of the wallet's class), the ledger's ``InsufficientFunds`` /
    ``LimitExceeded``, ``Forbidden`` (``wallet_frozen``).
    """
    from backend.wallets.service import wallet_of

    plan, pm, merchant = get_plan(consumer, plan_id)
    # A share lock on the merchant's row: a suspension (an UPDATE of it) waits for this purchase to
    # commit, so the closure run it starts sees this contract; a purchase after it sees the new status.
    status = db.session.execute(select(PM.c.status).where(PM.c.id == pm.id).with_for_update(read=True)).scalar_one()
    if status != PrepaidMerchantStatus.APPROVED:
        raise Conflict("This merchant is not selling prepaid plans now.", code="prepaid_not_approved")
    wallet = wallet_of(consumer)
    if wallet.status != WalletStatus.ACTIVE:
        raise Forbidden("This wallet is frozen.", code="wallet_frozen")
    cap_rule = "anonymous_purchase_cap_fen" if wallet.wallet_class == 4 else "named_purchase_cap_fen"
    cap = rules.value(cap_rule)
    if plan.price_fen > cap:
        raise rules.refuse(cap_rule, f"The plan costs {yuan(plan.price_fen)}; a class-{wallet.wallet_class} "
                           f"wallet may pay at most {yuan(cap)} for one prepaid purchase", field="plan_id")
    number = _new_number()
    escrow = ledger.open_account(AccountKind.PREPAID)
    posted = ledger.transfer(wallet.account_id, escrow, plan.price_fen, PURCHASE, memo=f"prepaid:{number}",
                             actor_user_id=consumer.id, limited=True)
    now = posted.created_at
    cooling_ends, expires = now + timedelta(days=plan.cooling_off_days), now + timedelta(days=plan.valid_days)
    split = json.loads(plan.split_json)
    terms = {
        "contract_number": number,
        "merchant": {"id": merchant.id, "name_zh": merchant.name_zh, "name_en": merchant.name_en,
                     "uscc": merchant.uscc, "industry": pm.industry},
        # Masked: the merchant's app shows these terms too (payers are shown masked to merchants).
        "consumer_wallet": wallet.wallet_number[:4] + "*" * 8 + wallet.wallet_number[-4:],
        "plan": {"id": plan.id, "name": plan.name, "kind": plan.kind},
        "price_fen": plan.price_fen,
        "units": plan.units,
        "unit": {PlanKind.SESSIONS: "session", PlanKind.STORED_VALUE: "fen_of_value",
                 PlanKind.TIME_PASS: "day"}[plan.kind],
        "unit_price_fen": plan.unit_price_fen,
        "bonus_fen": plan.bonus_fen,
        "split": [{k: v for k, v in p.items() if k != "account_id"} for p in split],
        "cooling_off_days": plan.cooling_off_days,
        "cooling_off_ends_at": as_utc(cooling_ends).isoformat(),
        "refund_fee_bp": plan.refund_fee_bp,
        "expires_at": as_utc(expires).isoformat(),
        "purchased_at": as_utc(now).isoformat(),
        "escrow": "Held for the consumer in a ledger account of this contract; released to the merchant one "
                  "use at a time.",
    }
    contract_id = db.session.execute(insert(C).values(
        number=number, code="PPC" + secrets.token_urlsafe(24), plan_id=plan.id, prepaid_merchant_id=pm.id,
        merchant_id=merchant.id, consumer_user_id=consumer.id, wallet_account_id=wallet.account_id,
        escrow_account_id=escrow, kind=plan.kind, price_fen=plan.price_fen, units_total=plan.units,
        units_left=plan.units, refund_fee_bp=plan.refund_fee_bp, cooling_off_ends_at=cooling_ends,
        expires_at=expires, terms_json=json.dumps(terms, ensure_ascii=False, sort_keys=True),
        terms_sha256=terms_hash(terms), status=ContractStatus.ACTIVE, purchase_transfer_id=posted.id,
        refunded_fen=0, fee_fen=0, created_at=now,
    ).returning(C.c.id)).scalar_one()
    return db.session.get(Contract, contract_id)


# ---------------------------------------------------------------- release per use


def split_amount(amount_fen: int, split: list[dict]) -> list[tuple[int, int]]:
    """Return ``[(account_id, fen)]`` sharing ``amount_fen`` by the split's basis points; each party after
    the first gets its share rounded down, the first (the seller) the rest, so the legs add up exactly.
    Parties whose share rounds to 0 fen are left out."""
    legs = [(p["account_id"], amount_fen * p["share_bp"] // BP) for p in split[1:]]
    first = amount_fen - sum(fen for _, fen in legs)
    return [(aid, fen) for aid, fen in [(split[0]["account_id"], first), *legs] if fen > 0]


def _take_units(contract_id: int, units: int, floor: int = 0) -> int | None:
    """Take ``units`` from an active contract in one conditional UPDATE, leaving at least ``floor``; return
    the units left after, or ``None`` if the contract is not active or has fewer left."""
    left = C.c.units_left - units
    return db.session.execute(
        update(C).where(C.c.id == contract_id, C.c.status == ContractStatus.ACTIVE, C.c.units_left >= units + floor)
        .values(units_left=left,
                status=case((left == 0, ContractStatus.COMPLETED), else_=ContractStatus.ACTIVE),
                ended_at=case((left == 0, literal(utcnow(), DateTime(timezone=True))), else_=C.c.ended_at))
        .returning(C.c.units_left)
    ).scalar_one_or_none()


def release_units(contract: Contract, units: int, *, via: str, user_id: int | None, floor: int = 0) -> Release:
    """Release ``units`` of ``contract`` to its merchant and the split's parties, in the caller's transaction,
    leaving at least ``floor`` units.

    Raises ``Conflict`` (``contract_ended``, ``not_enough_units``).
    """
    left = _take_units(contract.id, units, floor)
    if left is None:
        row = db.session.execute(select(C.c.status, C.c.units_left).where(C.c.id == contract.id)).one()
        if row.status != ContractStatus.ACTIVE:
            raise Conflict(f"This contract is {row.status}; nothing is left to release.", code="contract_ended")
        raise Conflict(f"Only {row.units_left} units are left.", code="not_enough_units", field="units",
                       units_left=row.units_left)
    amount = (due(left + units, contract.price_fen, contract.units_total)
              - due(left, contract.price_fen, contract.units_total))
    batch = ledger.new_batch_id()
    plan_split = json.loads(db.session.execute(select(Plan.split_json).where(Plan.id == contract.plan_id))
                            .scalar_one())
    legs = split_amount(amount, plan_split)
    ledger.lock_accounts([contract.escrow_account_id, *(aid for aid, _ in legs)])
    posted = [ledger.transfer(contract.escrow_account_id, account_id, fen, RELEASE, batch_id=batch,
                              memo=f"prepaid:{contract.number}:release", actor_user_id=user_id, limited=False)
              for account_id, fen in legs]
    # The ledger's time, so statements count the release on the day its money moved.
    now = posted[0].created_at if posted else utcnow()
    release_id = db.session.execute(insert(Release.__table__).values(
        contract_id=contract.id, prepaid_merchant_id=contract.prepaid_merchant_id, units=units, amount_fen=amount,
        units_left_after=left, batch_id=batch, via=via, released_by_user_id=user_id, created_at=now,
    ).returning(Release.__table__.c.id)).scalar_one()
    return db.session.get(Release, release_id)


def release_by_code(user: User, code: str, units: int) -> tuple[Release, Contract]:
    """The merchant scanned the consumer's contract code: release ``units`` (caller's transaction).

    Raises ``NotFound`` (unknown code, or not this user's shop: codes are not confirmed to strangers),
    ``Conflict`` (``prepaid_not_approved``, ``contract_expired``, ``time_pass``, ``contract_ended``,
    ``not_enough_units``).
    """
    contract = db.session.execute(select(Contract).where(Contract.code == code)).scalar_one_or_none()
    merchant = db.session.get(Merchant, contract.merchant_id) if contract else None
    if contract is None or not can_collect(user, merchant):
        raise NotFound("No contract of your shop has this code.", code="contract_not_found", field="code")
    status = db.session.execute(select(PM.c.status).where(PM.c.id == contract.prepaid_merchant_id)).scalar_one()
    if status != PrepaidMerchantStatus.APPROVED:
        raise Conflict("This merchant may not release prepaid funds now.", code="prepaid_not_approved")
    if contract.kind == PlanKind.TIME_PASS:
        raise Conflict("A time pass is released day by day, not by scanning.", code="time_pass", field="code")
    if as_utc(contract.expires_at) <= utcnow():
        raise Conflict("This contract has expired.", code="contract_expired")
    release = release_units(contract, units, via="scan", user_id=user.id)
    db.session.refresh(contract)
    return release, contract


def time_pass_days_left(contract: Contract, at=None) -> int:
    """Return the days of a time pass not yet served at ``at`` (default now): whole days since purchase
    are served."""
    served = ((at or utcnow()) - as_utc(contract.created_at)) // timedelta(days=1)
    return max(0, contract.units_total - served)


def catch_up_time_pass(contract: Contract, at=None) -> Release | None:
    """Release the days of a time pass served so far and not yet released (caller's transaction); return the
    release, or ``None`` when there is nothing to release. Safe to run twice or at once: the UPDATE takes
    only what is above the days still to serve."""
    if contract.kind != PlanKind.TIME_PASS:
        return None
    target = time_pass_days_left(contract, at)
    seen = db.session.execute(select(C.c.status, C.c.units_left).where(C.c.id == contract.id)).one()
    if seen.status != ContractStatus.ACTIVE or seen.units_left <= target:
        return None
    try:
        return release_units(contract, seen.units_left - target, via="time", user_id=None, floor=target)
    except Conflict:
        return None  # another run released these days meanwhile


# ---------------------------------------------------------------- refunds


def refund_contract(contract_id: int, kind: str, *, actor_user_id: int | None,
                    closure_id: int | None = None) -> Contract:
    """Return what is left of an active contract to the consumer's wallet (minus the plan's fee for a
    ``late`` refund, which goes to the merchant), in the caller's transaction; return the contract.

    Raises ``Conflict`` (``contract_ended``) or the ledger's ``LimitExceeded`` (the wallet is full).
    """
    contract = db.session.get(Contract, contract_id)
    # Days a time pass has already served are the merchant's: release them before refunding the rest.
    catch_up_time_pass(contract)
    for _ in range(5):
        seen = db.session.execute(select(C.c.status, C.c.units_left).where(C.c.id == contract_id)).one()
        if seen.status != ContractStatus.ACTIVE:
            raise Conflict(f"This contract is {seen.status}; nothing is left to refund.", code="contract_ended")
        left_fen = due(seen.units_left, contract.price_fen, contract.units_total)
        fee = left_fen * contract.refund_fee_bp // BP if kind == RefundKind.LATE else 0
        # Claims exactly the units seen: a release that got in between makes this match nothing; look again.
        claimed = db.session.execute(
            update(C).where(C.c.id == contract_id, C.c.status == ContractStatus.ACTIVE,
                            C.c.units_left == seen.units_left)
            .values(units_left=0, status=ContractStatus.REFUNDED, refund_kind=kind, refunded_fen=left_fen - fee,
                    fee_fen=fee, ended_at=utcnow(), closure_id=closure_id)
        ).rowcount
        if claimed == 1:
            break
    else:
        raise Conflict("The contract kept changing; try again.", code="concurrent_update")
    batch = ledger.new_batch_id()
    merchant_account = db.session.execute(select(Merchant.account_id).where(Merchant.id == contract.merchant_id)
                                          ).scalar_one()
    ledger.lock_accounts([contract.escrow_account_id, contract.wallet_account_id, merchant_account])
    posted = []
    if left_fen - fee:
        posted.append(ledger.transfer(contract.escrow_account_id, contract.wallet_account_id, left_fen - fee, REFUND,
                                      batch_id=batch, memo=f"prepaid:{contract.number}:refund",
                                      actor_user_id=actor_user_id, limited=False))
    if fee:
        posted.append(ledger.transfer(contract.escrow_account_id, merchant_account, fee, FEE, batch_id=batch,
                                      memo=f"prepaid:{contract.number}:fee", actor_user_id=actor_user_id,
                                      limited=False))
    # ended_at is the ledger's time, so statements count the refund on the day its money moved.
    db.session.execute(update(C).where(C.c.id == contract_id).values(
        refund_batch_id=batch, ended_at=posted[0].created_at if posted else utcnow()))
    db.session.refresh(contract)
    return contract


def refund_mine(consumer: User, contract_id: int) -> Contract:
    """The consumer asks for what is left: all of it within cooling-off, minus the plan's fee after."""
    contract = get_contract(consumer, contract_id)
    if consumer.role != Role.CONSUMER:
        raise Forbidden("Only the consumer who bought it can ask for a refund.", code="not_your_contract")
    kind = RefundKind.COOLING_OFF if utcnow() < as_utc(contract.cooling_off_ends_at) else RefundKind.LATE
    return refund_contract(contract.id, kind, actor_user_id=consumer.id)


# ---------------------------------------------------------------- the ledger invariant


def verify_escrows() -> list[str]:
    """Check every contract's escrow against its unreleased units; return the violations (empty = sound).

    1. each contract's escrow balance equals ``due(units_left)`` (unreleased units × unit price, or the
       stored value / days left pro rata);
    2. no prepaid escrow account is below zero;
    3. every prepaid escrow account belongs to a contract (money cannot sit in an orphan escrow).
    """
    from backend.ledger.models import Account

    A = Account.__table__
    problems = []
    expected = (C.c.units_left * C.c.price_fen) // C.c.units_total
    bad = db.session.execute(
        select(C.c.id, C.c.number, A.c.balance_fen, expected.label("due"))
        .join(A, A.c.id == C.c.escrow_account_id).where(A.c.balance_fen != expected).order_by(C.c.id).limit(21)
    ).all()
    for row in bad[:20]:
        problems.append(f"prepaid contract {row.id} ({row.number}): escrow holds {row.balance_fen} fen but "
                        f"{row.due} fen of units are unreleased")
    if len(bad) > 20:
        problems.append("… and more prepaid contracts whose escrow disagrees with their units")
    negative = db.session.execute(select(func.count()).select_from(A).where(
        A.c.kind == AccountKind.PREPAID, A.c.balance_fen < 0)).scalar_one()
    if negative:
        problems.append(f"{negative} prepaid escrow accounts are below zero")
    orphans = db.session.execute(select(func.count()).select_from(A).where(
        A.c.kind == AccountKind.PREPAID, A.c.balance_fen != 0,
        A.c.id.not_in(select(C.c.escrow_account_id)))).scalar_one()
    if orphans:
        problems.append(f"{orphans} prepaid escrow accounts hold money but belong to no contract")
    return problems


# ---------------------------------------------------------------- complaints and supervision


def complain(consumer: User, contract_id: int, text: str):
    """File the consumer's complaint about one of their contracts; commit; return it."""
    from prepaid.models import Complaint

    contract = get_contract(consumer, contract_id)
    if consumer.role != Role.CONSUMER:
        raise Forbidden("Only the consumer who bought it can complain about it.", code="not_your_contract")
    row = Complaint(contract_id=contract.id, prepaid_merchant_id=contract.prepaid_merchant_id,
                    consumer_user_id=consumer.id, text=text.strip(), created_at=utcnow())
    db.session.add(row)
    db.session.commit()
    return row


#: Warning signs on the supervision overview (thresholds are data here, documented in the README).
SALES_AHEAD_RATIO = 3  # sold in 30 days more than 3 × released in 30 days …
SALES_AHEAD_MIN_FEN = 1_000_000  # … and at least ¥10,000 sold
REFUND_BURST_MIN = 3  # at least 3 refunds in the last 7 days …
REFUND_BURST_RATIO = 2  # … and more than twice the 7-day average of the 23 days before


def supervision(user: User, now=None) -> dict:
    """Return the supervision overview ``user`` may see: per prepaid merchant the outstanding liabilities
    (escrow of open contracts), 30-day sales, releases, refunds and complaints, the release rate and the
    warning signs; and totals per industry."""
    from backend.ledger.models import Account
    from prepaid.grades import effective
    from prepaid.models import Complaint

    now = now or utcnow()
    A = Account.__table__
    since30, since7 = now - timedelta(days=30), now - timedelta(days=7)
    rows = []
    for pm, merchant in db.session.execute(visible_merchants(user).order_by(PrepaidMerchant.id)).all():
        mine = C.c.prepaid_merchant_id == pm.id
        outstanding = int(db.session.execute(select(func.coalesce(func.sum(A.c.balance_fen), 0)).select_from(
            C.join(A, A.c.id == C.c.escrow_account_id)).where(mine, C.c.status == ContractStatus.ACTIVE)).scalar_one())
        open_contracts = db.session.execute(select(func.count()).select_from(C).where(
            mine, C.c.status == ContractStatus.ACTIVE)).scalar_one()
        sold = int(db.session.execute(select(func.coalesce(func.sum(C.c.price_fen), 0)).where(
            mine, C.c.created_at >= since30)).scalar_one())
        released = int(db.session.execute(select(func.coalesce(func.sum(Release.amount_fen), 0)).where(
            Release.prepaid_merchant_id == pm.id, Release.created_at >= since30)).scalar_one())
        refunds = db.session.execute(select(func.count(), func.coalesce(func.sum(C.c.refunded_fen), 0)).where(
            mine, C.c.status == ContractStatus.REFUNDED, C.c.ended_at >= since30)).one()
        refunds_7d = db.session.execute(select(func.count()).select_from(C).where(
            mine, C.c.status == ContractStatus.REFUNDED, C.c.ended_at >= since7)).scalar_one()
        complaints = db.session.execute(select(func.count()).select_from(Complaint).where(
            Complaint.prepaid_merchant_id == pm.id, Complaint.created_at >= since30)).scalar_one()
        warnings = []
        if sold >= SALES_AHEAD_MIN_FEN and sold > SALES_AHEAD_RATIO * released:
            warnings.append("sales_ahead_of_releases")
        before = refunds[0] - refunds_7d  # refunds in the 23 days before the last 7
        if refunds_7d >= REFUND_BURST_MIN and refunds_7d * 23 > REFUND_BURST_RATIO * 7 * before:
            warnings.append("refund_burst")
        rows.append({
            "prepaid_merchant_id": pm.id, "merchant_id": merchant.id, "name_zh": merchant.name_zh,
            "industry": pm.industry, "status": pm.status, "credit_grade": effective(pm)["grade"],
            "outstanding_fen": outstanding, "open_contracts": open_contracts, "sold_30d_fen": sold,
            "released_30d_fen": released, "release_rate_bp": released * BP // sold if sold else None,
            "refunds_30d": refunds[0], "refunded_30d_fen": int(refunds[1]), "refunds_7d": refunds_7d,
            "complaints_30d": complaints, "warnings": warnings,
        })
    industries: dict[str, dict] = {}
    for r in rows:
        t = industries.setdefault(r["industry"], {"industry": r["industry"], "industry_zh": INDUSTRIES[r["industry"]],
                                                  "merchants": 0, "outstanding_fen": 0, "sold_30d_fen": 0,
                                                  "released_30d_fen": 0, "refunds_30d": 0, "complaints_30d": 0,
                                                  "warnings": 0})
        t["merchants"] += 1
        for k in ("outstanding_fen", "sold_30d_fen", "released_30d_fen", "refunds_30d", "complaints_30d"):
            t[k] += r[k]
        t["warnings"] += len(r["warnings"])
    return {"as_of": as_utc(now).isoformat(), "merchants": rows, "industries": list(industries.values())}


# ---------------------------------------------------------------- release requests (the consumer confirms)

REQUEST_TTL = timedelta(minutes=5)


def _check_releasable(contract: Contract) -> None:
    status = db.session.execute(select(PM.c.status).where(PM.c.id == contract.prepaid_merchant_id)).scalar_one()
    if status != PrepaidMerchantStatus.APPROVED:
        raise Conflict("This merchant may not release prepaid funds now.", code="prepaid_not_approved")
    if contract.kind == PlanKind.TIME_PASS:
        raise Conflict("A time pass is released day by day, not on request.", code="time_pass")
    if as_utc(contract.expires_at) <= utcnow():
        raise Conflict("This contract has expired.", code="contract_expired")
    if contract.status != ContractStatus.ACTIVE:
        raise Conflict(f"This contract is {contract.status}; nothing is left to release.", code="contract_ended")


def request_release(user: User, contract_id: int, units: int):
    """The shop asks the consumer to confirm releasing ``units``; commit; return the pending request.

    Raises ``NotFound``, ``Forbidden`` (``not_your_merchant``), ``Conflict`` (as ``release_by_code``).
    """
    from prepaid.models import ReleaseRequest, RequestStatus

    contract = get_contract(user, contract_id)
    if not can_collect(user, db.session.get(Merchant, contract.merchant_id)):
        raise Forbidden("Only the shop's owner and cashiers can ask for a release.", code="not_your_merchant")
    _check_releasable(contract)
    if units > contract.units_left:
        raise Conflict(f"Only {contract.units_left} units are left.", code="not_enough_units", field="units",
                       units_left=contract.units_left)
    now = utcnow()
    req = ReleaseRequest(contract_id=contract.id, units=units, status=RequestStatus.PENDING,
                         requested_by_user_id=user.id, created_at=now, expires_at=now + REQUEST_TTL)
    db.session.add(req)
    db.session.commit()
    return req


def visible_requests(user: User):
    """Return a select of ``(ReleaseRequest, Contract)`` the user may see: a consumer's, a shop's."""
    from prepaid.models import ReleaseRequest

    contracts = visible_contracts(user).with_only_columns(Contract.id)
    return (select(ReleaseRequest, Contract).join(Contract, Contract.id == ReleaseRequest.contract_id)
            .where(ReleaseRequest.contract_id.in_(contracts)))


def answer_request(consumer: User, request_id: int, confirm: bool):
    """The consumer confirms (releasing the units) or declines a pending request, in the caller's transaction;
    return ``(request, release or None)``.

    Raises ``NotFound``, ``Conflict`` (``request_not_pending``, ``request_expired`` and the release's refusals).
    """
    from prepaid.models import ReleaseRequest, RequestStatus

    row = db.session.execute(visible_requests(consumer).where(ReleaseRequest.id == request_id)).one_or_none()
    if row is None or consumer.role != Role.CONSUMER:
        raise NotFound("No such release request.", code="request_not_found")
    req, contract = row
    now = utcnow()
    RR = ReleaseRequest.__table__
    if confirm and as_utc(req.expires_at) <= now:
        raise Conflict("This request has expired; ask the shop to send it again.", code="request_expired")
    # One answer per request, even when two taps race: decided_at is claimed first (a confirmed request
    # must name its release, which exists only after the release below).
    moved = db.session.execute(update(RR).where(
        RR.c.id == req.id, RR.c.status == RequestStatus.PENDING, RR.c.decided_at.is_(None)).values(
        decided_at=now, status=RequestStatus.PENDING if confirm else RequestStatus.DECLINED)).rowcount
    if moved != 1:
        raise Conflict(f"This request was already {req.status}.", code="request_not_pending")
    release = None
    if confirm:
        _check_releasable(contract)
        release = release_units(contract, req.units, via="scan", user_id=req.requested_by_user_id)
        db.session.execute(update(RR).where(RR.c.id == req.id).values(status=RequestStatus.CONFIRMED,
                                                                      release_id=release.id))
    db.session.refresh(req)
    db.session.refresh(contract)
    return req, release
