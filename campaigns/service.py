"""Campaign use cases: create, launch (escrow and split), status by the clock, claim, register, figures.

Money-moving use cases (launch, claim) take ``run``: the view passes
``idempotency.run`` bound to the request, other callers (jobs, CLI, tests)
the default, which commits once and raises refusals. Either way the claim
row, the ledger transfer and (over HTTP) the idempotency record commit in
one transaction before anyone is told "claimed".
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import redis
from flask import current_app
from sqlalchemy import func, insert, select

from backend.auth.models import Role, User
from backend.clock import as_utc
from backend.errors import Conflict, Forbidden, NotFound, ValidationFailed
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind, audit
from backend.guards import check as money_gate
from backend.ledger import service as ledger
from backend.ledger.models import Account, AccountKind
from backend.ledger.service import InsufficientFunds, TransferCode
from backend.merchants.models import SCENARIOS, Merchant
from backend.secrets_box import seal
from backend.sql import fen_sum, insert_for
from backend.wallets.models import Wallet
from campaigns import draw as draw_algo
from campaigns import lifecycle
from campaigns import split as splitter
from campaigns.eligibility import check_consumer, merchant_zone_ids, placement_table
from campaigns.gate import GRACE_MS, Gate, GateBusy, GateTrouble, Taken
from campaigns.lifecycle import advance, due_status, funder_account, gate_expiry, move, now
from campaigns.lifecycle import get as _get
from campaigns.lottery import SEED_PURPOSE
from campaigns.models import (
    Campaign,
    CampaignDevice,
    CampaignKind,
    CampaignMerchant,
    CampaignStatus,
    CampaignZone,
    Claim,
    ClaimStatus,
    Funder,
    Packet,
    Registration,
    Split,
)
from zones.models import Zone, ZoneManager

MAX_PACKETS = 200_000
MAX_GATE_TRIES = 20
DEVICE_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# ---------------------------------------------------------------- refusals


class CampaignNotLive(Conflict):
    code = "campaign_not_live"
    title = "The campaign is not open"


class CampaignPaused(CampaignNotLive):
    code = "campaign_paused"
    title = "The campaign is paused"


class AlreadyClaimed(Conflict):
    code = "already_claimed"
    title = "Already claimed"


class SoldOut(Conflict):
    code = "sold_out"
    title = "All packets are taken"


class DeviceCap(Conflict):
    code = "device_cap"
    title = "This device has claimed its share"


class Unfunded(InsufficientFunds):
    title = "The funder cannot cover the budget"


def illegal(campaign: Campaign, target: str) -> Conflict:
    return lifecycle.illegal(campaign.status, target)


# ---------------------------------------------------------------- access


def managed_zone_ids(user: User) -> set[int] | None:
    """Return the zones ``user`` manages, ``None`` for the pilot office (every zone)."""
    if user.role == Role.PILOT_ADMIN:
        return None
    if user.role != Role.ZONE_MANAGER:
        return set()
    return set(db.session.execute(select(ZoneManager.zone_id).where(ZoneManager.user_id == user.id)).scalars())


def zone_exists(zone_id: int) -> bool:
    return db.session.get(Zone, zone_id) is not None


def zone_ids_of(campaign_id: int) -> set[int]:
    return set(db.session.execute(select(CampaignZone.zone_id).where(CampaignZone.campaign_id == campaign_id))
               .scalars())


def get_visible(user: User, campaign_id: int) -> Campaign:
    """Return a campaign ``user`` may see: staff of one of its zones or the pilot office see all of
    it; consumers and merchants see launched campaigns. Raises ``NotFound``."""
    campaign = _get(campaign_id)
    if user.role in (Role.ZONE_MANAGER, Role.PILOT_ADMIN):
        allowed = managed_zone_ids(user)
        if allowed is None or allowed & zone_ids_of(campaign_id):
            return campaign
        raise NotFound("No such campaign.", code="campaign_not_found")
    if campaign.status == CampaignStatus.DRAFT:
        raise NotFound("No such campaign.", code="campaign_not_found")
    return campaign


def get_managed(user: User, campaign_id: int) -> Campaign:
    """Return a campaign ``user`` may act on: the pilot office, or a manager of every one of its zones.

    Raises ``NotFound`` or ``Forbidden`` (``campaign_forbidden``).
    """
    campaign = get_visible(user, campaign_id)
    allowed = managed_zone_ids(user)
    if allowed is not None and not zone_ids_of(campaign_id) <= allowed:
        raise Forbidden("Only a manager of all of this campaign's zones may do this.", code="campaign_forbidden")
    return campaign


def is_staff_of(user: User, campaign_id: int) -> bool:
    allowed = managed_zone_ids(user) if user.role in (Role.ZONE_MANAGER, Role.PILOT_ADMIN) else set()
    return allowed is None or bool(allowed & zone_ids_of(campaign_id))


# ---------------------------------------------------------------- funders


def funders_for(user: User) -> list[tuple[Funder, int]]:
    """Return the funders ``user`` may name, with their wallet balance: all for the pilot office; for
    a zone manager those of their zones and those allowed in any zone."""
    allowed = managed_zone_ids(user)
    q = (select(Funder, Account.balance_fen).join(Wallet, Wallet.id == Funder.wallet_id)
         .join(Account, Account.id == Wallet.account_id).order_by(Funder.id))
    if allowed is not None:
        q = q.where((Funder.zone_id.is_(None)) | (Funder.zone_id.in_(allowed or {-1})))
    return [tuple(row) for row in db.session.execute(q).all()]


def funder_of(campaign: Campaign) -> Funder:
    return db.session.get(Funder, campaign.funder_id)


def add_funder(name: str, phone: str, zone_id: int | None) -> Funder:
    """Allow the wallet of the consumer with ``phone`` to fund promotions (in ``zone_id``, or anywhere);
    commit; return the funder. Raises ``ValidationFailed`` (no such wallet), ``Conflict`` (funder_exists)."""
    from backend.auth.service import normalize_phone

    phone = normalize_phone(phone, field="phone")
    wallet = db.session.execute(select(Wallet).join(User, User.id == Wallet.user_id).where(User.phone == phone)) \
        .scalar_one_or_none()
    if wallet is None:
        raise ValidationFailed("No wallet is registered with this phone number.", field="phone")
    if zone_id is not None and db.session.get(Zone, zone_id) is None:
        raise ValidationFailed("No such zone.", field="zone_id")
    if db.session.execute(select(Funder.id).where(Funder.wallet_id == wallet.id)).first():
        raise Conflict("This wallet is already a funder.", code="funder_exists")
    funder = Funder(name=name, wallet_id=wallet.id, zone_id=zone_id, created_at=now())
    db.session.add(funder)
    db.session.commit()
    return funder


# ---------------------------------------------------------------- create


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed("Give times with a UTC offset, e.g. 2026-12-01T10:00:00+08:00.", field=field)
    return as_utc(value)


def create(user: User, data: dict) -> Campaign:
    """Create a draft campaign from validated input; commit; return it.

    Raises what ``draft_values`` raises.
    """
    values, zone_ids, merchant_ids = draft_values(user, data)
    campaign = Campaign(**values, status=CampaignStatus.DRAFT, created_by_user_id=user.id, created_at=now())
    db.session.add(campaign)
    db.session.flush()
    _set_places(campaign.id, zone_ids, merchant_ids)
    db.session.commit()
    return campaign


def _set_places(campaign_id: int, zone_ids: list[int], merchant_ids: list[int]) -> None:
    db.session.execute(insert(CampaignZone), [{"campaign_id": campaign_id, "zone_id": z} for z in zone_ids])
    if merchant_ids:
        db.session.execute(insert(CampaignMerchant),
                           [{"campaign_id": campaign_id, "merchant_id": m} for m in merchant_ids])


def draft_values(user: User, data: dict) -> tuple[dict, list[int], list[int]]:
    """Check a campaign described like ``POST /campaigns``; return its column values, zone ids and
    merchant ids.

    ``data``: name, kind, split, funder_id, zone_ids, merchant_ids, scenarios,
    packet_count, budget_fen (red packets) or discount_fen + min_spend_fen
    (+ stackable) (coupons), device_cap, wallet_classes, wallet_opened_after,
    the window (claim_* or registration_* for a lottery) and spend_ends_at.
    Raises ``ValidationFailed`` (with the field), ``Forbidden``
    (``zone_forbidden`` for a zone the manager does not manage,
    ``funder_forbidden``).
    """
    kind = data["kind"]
    zone_ids = sorted(set(data["zone_ids"]))
    allowed = managed_zone_ids(user)
    known = set(db.session.execute(select(Zone.id).where(Zone.id.in_(zone_ids))).scalars())
    if set(zone_ids) - known:
        raise ValidationFailed(f"No such zone: {sorted(set(zone_ids) - known)}.", field="zone_ids")
    if allowed is not None and not set(zone_ids) <= allowed:
        raise Forbidden("You may only create campaigns in zones you manage.", code="zone_forbidden",
                        field="zone_ids")
    funder = db.session.get(Funder, data["funder_id"])
    if funder is None:
        raise ValidationFailed("No such funder.", field="funder_id")
    if funder.zone_id is not None and set(zone_ids) != {funder.zone_id}:
        raise Forbidden("This funder may only fund campaigns in its own zone.", code="funder_forbidden",
                        field="funder_id")
    count = data["packet_count"]
    if count > MAX_PACKETS:
        raise ValidationFailed(f"At most {MAX_PACKETS} packets per campaign.", field="packet_count")
    split_kind = None
    if kind == CampaignKind.COUPON:
        discount, min_spend = data.get("discount_fen"), data.get("min_spend_fen")
        if not discount:
            raise ValidationFailed("A coupon needs discount_fen.", field="discount_fen")
        if min_spend is None or min_spend < discount:
            raise ValidationFailed("min_spend_fen must be at least the discount (满 X 减 Y with X ≥ Y).",
                                   field="min_spend_fen")
        budget = discount * count
        if data.get("budget_fen") not in (None, budget):
            raise ValidationFailed(f"A coupon campaign's budget is count × discount = {budget} fen.",
                                   field="budget_fen")
    else:
        budget, split_kind = data.get("budget_fen"), data.get("split") or Split.RANDOM
        if budget is None:
            raise ValidationFailed("A red-packet campaign needs budget_fen.", field="budget_fen")
        try:
            splitter.check(budget, count, fixed=split_kind == Split.FIXED)
        except splitter.SplitError as exc:
            raise ValidationFailed(str(exc), field="budget_fen") from None
    opens, closes = ("registration_starts_at", "registration_ends_at") if kind == CampaignKind.LOTTERY \
        else ("claim_starts_at", "claim_ends_at")
    opens_at, closes_at = _aware(data.get(opens), opens), _aware(data.get(closes), closes)
    spend_ends_at = _aware(data.get("spend_ends_at"), "spend_ends_at")
    for field, value in ((opens, opens_at), (closes, closes_at), ("spend_ends_at", spend_ends_at)):
        if value is None:
            raise ValidationFailed(f"A {kind} campaign needs {field}.", field=field)
    if not opens_at < closes_at:
        raise ValidationFailed(f"{closes} must be after {opens}.", field=closes)
    if not closes_at <= spend_ends_at:
        raise ValidationFailed(f"spend_ends_at must not be before {closes}.", field="spend_ends_at")
    reveal_s = None
    if kind == CampaignKind.LOTTERY:
        # Registrants reveal their secrets after registration closes; the draw runs when that window ends.
        reveal_s = int(current_app.config.get("CAMPAIGN_REVEAL_S", lifecycle.DEFAULT_REVEAL_S))
        if spend_ends_at < closes_at + timedelta(seconds=reveal_s):
            raise ValidationFailed(f"spend_ends_at must leave the winners time to spend: the draw runs {reveal_s} s "
                                   f"after {closes}.", field="spend_ends_at")
    if closes_at <= now():
        raise ValidationFailed(f"{closes} is already past.", field=closes)
    merchant_ids = sorted(set(data.get("merchant_ids") or ()))
    if merchant_ids:
        found = set(db.session.execute(select(Merchant.id).where(Merchant.id.in_(merchant_ids))).scalars())
        if set(merchant_ids) - found:
            raise ValidationFailed(f"No such merchant: {sorted(set(merchant_ids) - found)}.", field="merchant_ids")
        if placement_table() is not None:
            placed = merchant_zone_ids(merchant_ids)
            outside = [m for m in merchant_ids if placed.get(m) not in zone_ids]
            if outside:
                raise ValidationFailed(f"Merchants {outside} are not placed in the campaign's zones.",
                                       field="merchant_ids")
    scenarios = sorted(set(data.get("scenarios") or ()))
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise ValidationFailed(f"Unknown scenario {unknown[0]!r}; use {', '.join(SCENARIOS)}.", field="scenarios")
    classes = "".join(str(c) for c in sorted(set(data.get("wallet_classes") or (1, 2, 3, 4))))
    values = dict(
        name=data["name"], kind=kind, split=split_kind, funder_id=funder.id,
        budget_fen=budget, packet_count=count, discount_fen=data.get("discount_fen") if kind == "coupon" else None,
        min_spend_fen=data.get("min_spend_fen") if kind == "coupon" else None,
        stackable=bool(data.get("stackable")) and kind == "coupon",
        device_cap=data.get("device_cap"), wallet_classes=classes,
        wallet_opened_after=_aware(data.get("wallet_opened_after"), "wallet_opened_after"),
        scenarios=",".join(scenarios) or None, opens_at=opens_at, closes_at=closes_at, spend_ends_at=spend_ends_at,
        reveal_s=reveal_s,
    )
    return values, zone_ids, merchant_ids


def list_for(user: User, status: str | None, zone_id: int | None, limit: int, before: int | None) -> list[Campaign]:
    """Return campaigns ``user`` may see, newest first: staff those of their zones, others launched ones."""
    q = select(Campaign)
    if user.role in (Role.ZONE_MANAGER, Role.PILOT_ADMIN):
        allowed = managed_zone_ids(user)
        if allowed is not None:
            q = q.where(Campaign.id.in_(select(CampaignZone.campaign_id)
                                        .where(CampaignZone.zone_id.in_(allowed or {-1}))))
    else:
        q = q.where(Campaign.status != CampaignStatus.DRAFT)
    if status:
        # Stored statuses behind the clock are written back first, so the filter matches ``lifecycle.state``.
        lifecycle.advance_due(q.with_only_columns(Campaign.id))
        q = q.where(Campaign.status == status)
    if zone_id:
        q = q.where(Campaign.id.in_(select(CampaignZone.campaign_id).where(CampaignZone.zone_id == zone_id)))
    if before:
        q = q.where(Campaign.id < before)
    return list(db.session.execute(q.order_by(Campaign.id.desc()).limit(limit)).scalars())


# ---------------------------------------------------------------- launch


def _direct(action: Callable[[], tuple[dict, int]]) -> tuple[dict, int]:
    """Run a money action and commit; on a refusal roll back and raise it."""
    try:
        out = action()
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()
    return out


def launch(user: User, campaign_id: int, render: Callable[[Campaign], dict], *, run=_direct) -> tuple[dict, int]:
    """Launch a draft: escrow the whole budget from the funder into a new campaign account (ESCROW),
    split it into packets, commit a seed's hash for a lottery, and move to scheduled (or live if the
    window is open). Returns ``(body, status)`` from ``run``.

    Refusals: ``Forbidden``, ``Conflict`` (illegal_transition), ``Unfunded``
    (insufficient_funds: the campaign stays draft), ``ValidationFailed`` (window past).
    """
    campaign = get_managed(user, campaign_id)

    def action():
        if campaign.status != CampaignStatus.DRAFT:
            raise illegal(campaign, CampaignStatus.SCHEDULED)
        if as_utc(campaign.closes_at) <= now():
            raise ValidationFailed("The campaign's window has already closed.", code="window_past")
        funder_user_id = db.session.execute(
            select(Wallet.user_id).join(Funder, Funder.wallet_id == Wallet.id).where(Funder.id == campaign.funder_id)
        ).scalar_one()
        money_gate(MoneyMove(MoveKind.ESCROW, campaign.budget_fen, actor_user_id=user.id, from_user_id=funder_user_id))
        account_id = ledger.open_account(AccountKind.CAMPAIGN)
        try:
            escrow = ledger.transfer(funder_account(campaign.funder_id), account_id, campaign.budget_fen,
                                     TransferCode.ESCROW, memo=f"campaign:{campaign.id}:escrow",
                                     actor_user_id=user.id, limited=False)
        except InsufficientFunds as exc:
            raise Unfunded("The funder's wallet does not hold the campaign's budget.",
                           budget_fen=campaign.budget_fen, funder_balance_fen=exc.extra.get("balance_fen")) from None
        seed_values = {}
        if campaign.kind == CampaignKind.LOTTERY:
            seed = os.urandom(32)
            seed_values = {"seed_sha256": draw_algo.seed_hash(seed), "seed_sealed": seal(SEED_PURPOSE, seed)}
        if not move(campaign.id, CampaignStatus.SCHEDULED, account_id=account_id, launched_at=escrow.created_at,
                     escrow_transfer_id=escrow.id, **seed_values):
            raise illegal(campaign, CampaignStatus.SCHEDULED)
        # A staff action on money: in the audit log, in the same transaction as the escrow.
        audit("campaign_launch", actor_user_id=user.id, target_kind="campaign", target_id=campaign.id,
              detail={"budget_fen": campaign.budget_fen, "funder_id": campaign.funder_id,
                      "escrow_transfer_id": escrow.id})
        amounts = ([campaign.discount_fen] * campaign.packet_count if campaign.kind == CampaignKind.COUPON
                   else splitter.split(campaign.split, campaign.budget_fen, campaign.packet_count))
        db.session.execute(insert(Packet), [{"campaign_id": campaign.id, "seq": i + 1, "amount_fen": a}
                                            for i, a in enumerate(amounts)])
        if due_status(CampaignStatus.SCHEDULED, campaign.opens_at, campaign.closes_at) != CampaignStatus.SCHEDULED:
            move(campaign.id, CampaignStatus.LIVE, (CampaignStatus.SCHEDULED,))
        db.session.flush()
        db.session.refresh(campaign)
        return render(campaign), 200

    body, status = run(action)
    if status < 300:
        _after_launch(campaign_id)
    return body, status


def _after_launch(campaign_id: int) -> None:
    """Best effort after the launch committed: build the gate now (else the first claim builds it)
    and schedule a lottery's draw."""
    from campaigns import tasks

    campaign = _get(campaign_id)
    if campaign.kind == CampaignKind.LOTTERY:
        tasks.schedule_draw(campaign_id, at=lifecycle.draw_due_at(campaign))
        return
    try:
        Gate(campaign_id).rebuild(gate_expiry(campaign.closes_at), wait=False)
    except Exception:  # noqa: BLE001 - the gate rebuilds itself on the first claim
        current_app.logger.exception("could not prebuild the claim gate of campaign %s", campaign_id)
    finally:
        db.session.rollback()


# ---------------------------------------------------------------- claim


def _claim_row(campaign_id: int):
    row = db.session.execute(
        select(Campaign.id, Campaign.kind, Campaign.status, Campaign.opens_at, Campaign.closes_at,
               Campaign.spend_ends_at, Campaign.device_cap, Campaign.wallet_classes, Campaign.wallet_opened_after,
               Campaign.account_id, Campaign.discount_fen, Campaign.min_spend_fen, Campaign.cancelled_at)
        .where(Campaign.id == campaign_id)
    ).one_or_none()
    if row is None:
        raise NotFound("No such campaign.", code="campaign_not_found")
    return row


def check_device(device_id: str | None, cap: int | None) -> str | None:
    if device_id is not None and not DEVICE_RE.fullmatch(device_id):  # fullmatch: '$' passes a final newline
        raise ValidationFailed("A device id is 1–64 letters, digits, '.', '_' or '-'.", field="device_id")
    if cap and not device_id:
        raise ValidationFailed("This campaign limits claims per device: send X-Device-Id.",
                               code="device_id_required", field="device_id")
    return device_id


def _check_open(c, action: str) -> None:
    status = lifecycle.state(c)
    if status != CampaignStatus.LIVE:
        raise not_live(c, status, action)


def not_live(c, status: str, action: str) -> CampaignNotLive:
    """The 409 a claim or registration gets when the campaign is not live; says why (``campaign_status``)."""
    if status == CampaignStatus.PAUSED:
        from campaigns.zonehold import active_stop_of

        stopped = active_stop_of(c.id)
        if stopped is not None:
            return CampaignPaused(f"Every campaign of this zone is stopped for now: no {action}s. Red packets "
                                  "and coupons already claimed can still be spent.", code="zone_campaigns_stopped",
                                  campaign_status=status, zone_id=stopped.zone_id,
                                  stopped_at=as_utc(stopped.stopped_at).isoformat())
        return CampaignPaused(f"The campaign is paused: no {action}s for now. Red packets and coupons already "
                              "claimed can still be spent.", campaign_status=status)
    if status == CampaignStatus.CANCELLED or (status == CampaignStatus.SETTLED and getattr(c, "cancelled_at", None)):
        return CampaignNotLive(f"The campaign was cancelled: no more {action}s.", code="campaign_cancelled",
                               campaign_status=status)
    when = "has not opened yet" if status in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED) else "is closed"
    return CampaignNotLive(f"The campaign's {action} window {when}.", campaign_status=status,
                           opens_at=as_utc(c.opens_at).isoformat(), closes_at=as_utc(c.closes_at).isoformat())


def claim(user_id: int, campaign_id: int, device_id: str | None, *, run=_direct,
          via: str = "gate") -> tuple[dict, int]:
    """Claim one packet of a grab or coupon campaign for ``user_id``; return ``(body, status)``.

    Checks (before the gate): the campaign is live and its claim window open,
    a device id is sent if the campaign caps devices, the consumer's wallet is
    eligible. Once PostgreSQL has confirmed that every packet is claimed, a
    consumer without a claim is told ``SoldOut`` from Redis alone — one Lua
    step, no database read, no Idempotency-Key record — before any other
    check (the gate's keys expire when the claim window closes). Then the
    gate hands out a packet atomically and the claim commits in PostgreSQL (claim row + ledger transfer campaign → the
    consumer's restricted account for red packets) before returning 201.

    Refusals: ``CampaignNotLive``, ``NotEligible``, ``AlreadyClaimed``,
    ``DeviceCap``, ``SoldOut``, ``ValidationFailed``; ``GateBusy`` (503, not recorded) when
    Redis is unreachable or the gate is still being rebuilt.
    """
    if via == "gate" and _finally_sold_out(campaign_id, user_id):
        # Nothing can change this answer and nothing was taken, so nothing is recorded under the
        # Idempotency-Key (a consumer who did claim has an entry and takes the full path: a replay).
        raise SoldOut("Every packet of this campaign has been claimed.")
    c = _claim_row(campaign_id)
    if c.kind == CampaignKind.LOTTERY:
        raise Conflict("Lottery red packets are drawn: register instead.", code="lottery_needs_registration")
    if c.status != due_status(c.status, c.opens_at, c.closes_at):
        advance(campaign_id)
        c = _claim_row(campaign_id)  # as written back (a zone stop pauses a campaign as it opens)
    pending: list[Taken] = []

    def action():
        _check_open(c, "claim")
        check_device(device_id, c.device_cap if via == "gate" else None)  # staff grants name no device
        check_consumer(user_id, c.wallet_classes, c.wallet_opened_after)
        money_gate(MoneyMove(MoveKind.CLAIM, actor_user_id=user_id, to_user_id=user_id))
        return _take_and_record(c, user_id, device_id, via, pending), 201

    try:
        body, status = run(action)
    except (GateTrouble, redis.RedisError) as exc:
        # Not a refusal: nothing is recorded under the Idempotency-Key, the same request may be retried.
        db.session.rollback()
        _release(campaign_id, pending)
        raise GateBusy("Claims are paused for a moment (the claim gate is recovering); try again.",
                       headers={"Retry-After": "1"}) from exc
    except BaseException:
        _release(campaign_id, pending)
        raise
    if status >= 300:
        _release(campaign_id, pending)
    return body, status


#: How long a claim waits for the same consumer's in-flight claim to commit before answering 503.
IN_FLIGHT_WAIT_S = 1.0


def _finally_sold_out(campaign_id: int, user_id: int) -> bool:
    try:
        return Gate(campaign_id).sold_out_for(user_id)
    except redis.RedisError:
        return False  # the full path will say what is wrong


def _release(campaign_id: int, pending: list[Taken]) -> None:
    """The claim did not commit (or may not have): give its packet back to the gate."""
    gate = Gate(campaign_id)
    for taken in pending:
        try:
            gate.release(taken, push_back=True)
        except Exception:  # noqa: BLE001 - reconcile finds the packet later
            current_app.logger.exception("could not release packet %s of campaign %s", taken.seq, campaign_id)
    pending.clear()


def _insert_claim(values: dict) -> int | None:
    stmt = insert_for(Claim.__table__).values(**values).on_conflict_do_nothing().returning(Claim.id)
    return db.session.execute(stmt).scalar_one_or_none()


def _entry_of(campaign_id: int, user_id: int) -> tuple[int, int, int] | None:
    row = db.session.execute(select(Claim.id, Claim.packet_seq, Claim.amount_fen)
                             .where(Claim.campaign_id == campaign_id, Claim.user_id == user_id)).one_or_none()
    return tuple(row) if row else None


def _committed_entry(campaign_id: int, user_id: int, handed_at_ms: int,
                     wait_s: float = IN_FLIGHT_WAIT_S) -> tuple[int, int, int] | None:
    """The consumer's claim in PostgreSQL; if the gate handed them a packet moments ago (their other
    request, still in flight), wait up to ``wait_s`` for it to commit (READ COMMITTED sees it)."""
    deadline = time.monotonic() + wait_s
    while True:
        mine = _entry_of(campaign_id, user_id)
        if mine is not None or time.monotonic() >= deadline or time.time() * 1000 - handed_at_ms >= GRACE_MS:
            return mine
        time.sleep(0.02)


def _already(campaign_id: int, user_id: int, seq: int | None = None, amount: int | None = None) -> AlreadyClaimed:
    extra = {"packet_seq": seq, "amount_fen": amount} if seq is not None else {}
    return AlreadyClaimed("You have already claimed from this campaign.", campaign_id=campaign_id, **extra)


def _take_and_record(c, user_id: int, device_id: str | None, via: str, pending: list[Taken]) -> dict:
    gate = Gate(c.id)
    expiry = gate_expiry(c.closes_at)
    red_packet = c.kind != CampaignKind.COUPON
    restricted = None
    if not red_packet:
        # A coupon claim moves no money, so nothing else orders it against a cancel counting the coupons
        # it must keep funded: hold the campaign row (shared) and re-read the status under it.
        status = db.session.execute(select(Campaign.status).where(Campaign.id == c.id).with_for_update(read=True)) \
            .scalar_one()
        if status != CampaignStatus.LIVE:
            raise not_live(c, lifecycle.due_status(status, c.opens_at, c.closes_at), "claim")
    for _ in range(MAX_GATE_TRIES):
        status, got = gate.take(user_id, device_id, c.device_cap)
        if status == "rebuild":
            gate.ensure_ready(expiry)
            continue
        if status == "stopped":
            # The gate says paused or cancelled; PostgreSQL has the last word (a failed resume may have
            # left the flag behind).
            status_now = db.session.execute(select(Campaign.status).where(Campaign.id == c.id)).scalar_one()
            if status_now != CampaignStatus.LIVE:
                raise not_live(c, status_now, "claim")
            gate.set_stopped(None)
            continue
        if status == "already":
            seq, amount, handed_at = got.split(":")
            if handed_at == "0":  # rebuilt from PostgreSQL: a committed claim
                raise _already(c.id, user_id, int(seq), int(amount))
            mine = _committed_entry(c.id, user_id, int(handed_at))
            if mine is not None:
                raise _already(c.id, user_id, mine[1], mine[2])
            if time.time() * 1000 - int(handed_at) < GRACE_MS:
                # The same consumer's other request holds a packet and has not committed in a second: ask again.
                raise GateTrouble("this consumer's claim is still in flight")
            # Handed out long ago and never committed (its worker died): give it back, then take again.
            gate.release(Taken(user_id, int(seq), int(amount), got, None), push_back=True)
            continue
        if status == "device_cap":
            raise DeviceCap(f"This device has already claimed {c.device_cap} time(s) from this campaign.",
                            device_cap=c.device_cap)
        if status == "sold_out":
            if gate.confirm_sold_out(expiry):
                raise SoldOut("Every packet of this campaign has been claimed.")
            continue
        pending.append(got)
        at = now()
        if red_packet and restricted is None:
            # One restricted account per (consumer, campaign): expiry and reclaim are exact per account.
            restricted = ledger.open_account(AccountKind.RESTRICTED)
        claim_id = _insert_claim({
            "campaign_id": c.id, "user_id": user_id, "packet_seq": got.seq, "amount_fen": got.amount_fen,
            "device_id": device_id, "via": via, "status": ClaimStatus.CLAIMED,
            "restricted_account_id": restricted, "created_at": at,
        })
        if claim_id is None:
            # The unique indexes refused it: PostgreSQL knows better than the gate (a rebuild raced
            # an in-flight claim). Which one?
            pending.remove(got)
            mine = _entry_of(c.id, user_id)
            if mine is not None:
                gate.release(got, push_back=True, restore=f"{mine[1]}:{mine[2]}:0")
                raise _already(c.id, user_id, mine[1], mine[2])
            gate.release(got, push_back=False)  # the packet is someone else's: drop it, take the next
            continue
        if device_id and c.device_cap:
            counted = db.session.execute(
                insert_for(CampaignDevice.__table__).values(campaign_id=c.id, device_id=device_id, claims=1)
                .on_conflict_do_update(index_elements=["campaign_id", "device_id"],
                                       set_={"claims": CampaignDevice.claims + 1},
                                       where=CampaignDevice.claims < c.device_cap)
                .returning(CampaignDevice.claims)
            ).scalar_one_or_none()
            if counted is None:
                pending.remove(got)  # the claim row goes with the rolled-back transaction
                gate.release(got, push_back=True, device_claims=c.device_cap)
                raise DeviceCap(f"This device has already claimed {c.device_cap} time(s) from this campaign.",
                                device_cap=c.device_cap)
        if red_packet:
            try:
                ledger.transfer(c.account_id, restricted, got.amount_fen, TransferCode.RED_PACKET_CLAIM,
                                memo=f"campaign:{c.id}:claim:{claim_id}", actor_user_id=user_id, limited=False)
            except InsufficientFunds:
                # A cancel returned the unclaimed budget after this claim's status check (the escrow
                # row orders the two): the campaign is no longer live.
                status = db.session.execute(select(Campaign.status).where(Campaign.id == c.id)).scalar_one()
                if status == CampaignStatus.LIVE:
                    raise
                raise not_live(c, status, "claim") from None
        return {
            "claim_id": claim_id, "campaign_id": c.id, "kind": c.kind, "packet_seq": got.seq,
            "amount_fen": got.amount_fen, "via": via, "status": ClaimStatus.CLAIMED,
            "discount_fen": c.discount_fen, "min_spend_fen": c.min_spend_fen,
            "spend_ends_at": as_utc(c.spend_ends_at).isoformat(), "created_at": at.isoformat(),
        }
    raise GateTrouble(f"no packet after {MAX_GATE_TRIES} tries")


# ---------------------------------------------------------------- lottery registration


def register(user_id: int, campaign_id: int, device_id: str | None, commitment: str | None = None) -> Registration:
    """Register ``user_id`` for a lottery while its registration window is open; commit; return it.

    ``commitment``: sha256 (hex) of a 32-byte secret the registrant's device keeps and reveals after
    registration closes (``lottery.reveal``): its entropy for the draw (see ``campaigns.draw``).
    Raises ``CampaignNotLive`` (campaign_paused too), ``NotEligible``, ``Conflict`` (already_registered,
    not_a_lottery), ``ValidationFailed``.
    """
    if commitment is not None:
        commitment = commitment.lower()
        if not draw_algo.HEX64.match(commitment):
            raise ValidationFailed("A commitment is a SHA-256 in hex (64 digits).", field="commitment")
    c = _claim_row(campaign_id)
    if c.kind != CampaignKind.LOTTERY:
        raise Conflict("Only lotteries take registrations; claim this campaign instead.", code="not_a_lottery")
    if c.status != due_status(c.status, c.opens_at, c.closes_at):
        advance(campaign_id)
    _check_open(c, "registration")
    check_device(device_id, c.device_cap)
    check_consumer(user_id, c.wallet_classes, c.wallet_opened_after)
    reg_id = db.session.execute(
        insert_for(Registration.__table__)
        .values(campaign_id=campaign_id, user_id=user_id, device_id=device_id, commitment=commitment,
                created_at=now())
        .on_conflict_do_nothing().returning(Registration.id)
    ).scalar_one_or_none()
    if reg_id is None:
        db.session.rollback()
        raise Conflict("You are already registered for this draw.", code="already_registered")
    db.session.commit()
    return db.session.get(Registration, reg_id)


# ---------------------------------------------------------------- figures


def stats(campaign_id: int, window_s: tuple[int, ...] = (10, 60)) -> dict:
    """Return the live figures of a campaign (for the console monitor), straight from PostgreSQL,
    plus what the gate holds in Redis."""
    campaign = _get(campaign_id)
    at = now()
    count, total = db.session.execute(
        select(func.count(), fen_sum(Claim.amount_fen)).where(Claim.campaign_id == campaign_id)
    ).one()
    recent = {}
    for s in window_s:
        recent[f"claims_last_{s}s"] = db.session.execute(
            select(func.count()).where(Claim.campaign_id == campaign_id, Claim.created_at >= at - timedelta(seconds=s))
        ).scalar_one()
    used = db.session.execute(select(func.count()).where(
        Claim.campaign_id == campaign_id, Claim.status == ClaimStatus.USED)).scalar_one()
    regs = db.session.execute(select(func.count()).where(Registration.campaign_id == campaign_id)).scalar_one()
    held = db.session.execute(select(Account.balance_fen).where(Account.id == campaign.account_id)) \
        .scalar_one_or_none() if campaign.account_id else None
    from campaigns.settlement import subsidy_figures

    body = {
        "campaign_id": campaign_id, "status": lifecycle.state(campaign, at),
        "kind": campaign.kind, "packet_count": campaign.packet_count, "budget_fen": campaign.budget_fen,
        "claimed_count": count, "claimed_fen": total,
        # What may still be claimed: nothing once cancelled (the rest went back to the funder).
        "remaining_packets": 0 if campaign.cancelled_at else
        campaign.packet_count - count if campaign.launched_at else campaign.packet_count,
        "remaining_fen": 0 if campaign.cancelled_at else campaign.budget_fen - total,
        **recent,
        "coupons_used": used if campaign.kind == CampaignKind.COUPON else None,
        "registrations": regs if campaign.kind == CampaignKind.LOTTERY else None,
        "escrow_balance_fen": held,
        **subsidy_figures([campaign_id]),
        "as_of": at.isoformat(),
    }
    if campaign.kind != CampaignKind.LOTTERY and campaign.launched_at:
        try:
            body["gate"] = Gate(campaign_id).figures()
        except Exception as exc:  # noqa: BLE001 - the monitor should show Redis trouble, not fail
            body["gate"] = {"ready": False, "error": str(exc)[:200]}
    return body


def my_part(user_id: int, campaign_id: int) -> dict:
    """Return the consumer's own part in a campaign: their claim and registration, if any."""
    claim_row = db.session.execute(select(Claim).where(Claim.campaign_id == campaign_id, Claim.user_id == user_id)) \
        .scalar_one_or_none()
    reg = db.session.execute(select(Registration.commitment, Registration.revealed_at).where(
        Registration.campaign_id == campaign_id, Registration.user_id == user_id)).first()
    return {"claimed": claim_row is not None, "registered": reg is not None,
            # lotteries: the commitment sent at registration and when its secret was revealed (the app shows it)
            "commitment": reg.commitment if reg else None,
            "revealed_at": as_utc(reg.revealed_at).isoformat() if reg and reg.revealed_at else None,
            "claim": {"claim_id": claim_row.id, "amount_fen": claim_row.amount_fen, "status": claim_row.status}
            if claim_row else None}


def merchants_of(campaign_id: int) -> list[int]:
    return list(db.session.execute(select(CampaignMerchant.merchant_id)
                                   .where(CampaignMerchant.campaign_id == campaign_id)
                                   .order_by(CampaignMerchant.merchant_id)).scalars())


def registrations_of(campaign_id: int, user_id: int | None = None) -> list[Registration]:
    q = select(Registration).where(Registration.campaign_id == campaign_id)
    if user_id is not None:
        q = q.where(Registration.user_id == user_id)
    return list(db.session.execute(q.order_by(Registration.user_id)).scalars())


def claimed_total(campaign_id: int) -> tuple[int, int]:
    return tuple(db.session.execute(
        select(func.count(), fen_sum(Claim.amount_fen)).where(Claim.campaign_id == campaign_id)
    ).one())



# ---------------------------------------------------------------- a consumer's red packets and coupons


def _iso(value) -> str | None:
    return as_utc(value).isoformat() if value else None


def _my_claims(user_id: int, kinds: tuple[str, ...]):
    return db.session.execute(
        select(Claim, Campaign, Account.balance_fen)
        .join(Campaign, Campaign.id == Claim.campaign_id)
        .outerjoin(Account, Account.id == Claim.restricted_account_id)
        .where(Claim.user_id == user_id, Campaign.kind.in_(kinds))
        .order_by(Campaign.spend_ends_at, Claim.id)
    ).all()


def _usable(campaign: Campaign, at: datetime) -> bool:
    return lifecycle.spendable(campaign, at)


def my_red_packets(user_id: int) -> dict:
    """Return a consumer's red packets in spending order (earliest deadline first) and what is spendable."""
    at = now()
    items, spendable = [], 0
    for claim_row, campaign, balance in _my_claims(user_id, CampaignKind.RED_PACKETS):
        usable = _usable(campaign, at)
        if usable:
            spendable += balance or 0
        items.append({
            "claim_id": claim_row.id,
            "campaign": {"id": campaign.id, "name": campaign.name, "kind": campaign.kind},
            "amount_fen": claim_row.amount_fen, "balance_fen": balance or 0,
            "state": ("active" if balance else "spent") if usable else "expired",
            "via": claim_row.via, "claimed_at": _iso(claim_row.created_at),
            "spend_ends_at": _iso(campaign.spend_ends_at),
        })
    return {"items": items, "spendable_fen": spendable}


def my_coupons(user_id: int) -> dict:
    """Return a consumer's coupons: claimed (usable), used, or expired."""
    at = now()
    items = []
    for claim_row, campaign, _ in _my_claims(user_id, (CampaignKind.COUPON,)):
        used = claim_row.status == ClaimStatus.USED
        items.append({
            "claim_id": claim_row.id, "campaign": {"id": campaign.id, "name": campaign.name},
            "discount_fen": campaign.discount_fen, "min_spend_fen": campaign.min_spend_fen,
            "stackable": campaign.stackable,
            "state": claim_row.status if used or _usable(campaign, at) else "expired",
            "used_order_id": claim_row.used_order_id, "claimed_at": _iso(claim_row.created_at),
            "spend_ends_at": _iso(campaign.spend_ends_at),
        })
    return {"items": items}
