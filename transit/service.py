"""Hard wallets and the settlement of offline records. Money moves only through ``backend.ledger``.

Each use case locks the cards it touches (their ``transit_cards`` rows, ascending id) before it reads
what the server knows about them, so two batches naming one card are settled one after the other and
a card's hard-wallet account is only ever moved under that lock. Records are unique per card and
counter: a record uploaded twice, in overlapping batches, out of order or days late is settled once.

A record is accepted when the card's key signed it, it agrees with every record of the card already
held (same counter means same record; the previous hash names the record one counter lower; the
card's running total of spending never goes backwards) and the hard-wallet account still holds its
amount. Anything else is fraud or double-spending: the record is kept as evidence in an incident, the
card is blacklisted, the amount a terminal accepted but nobody can pay is recorded as a loss, and
nothing is settled.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app
from sqlalchemy import func, insert, select, update

from backend.auth.models import User
from backend.clock import as_utc, utcnow
from backend.config import TierLimits
from backend.errors import Conflict, Forbidden, NotFound, Unauthorized, Unprocessable, ValidationFailed
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.payments import keys
from backend.sql import insert_for
from backend.wallets.service import wallet_of
from suiyuan_protocol.transit.card import CardLimits
from suiyuan_protocol.transit.records import (
    ISSUER_TERMINAL,
    CardCertificate,
    LoadAuthorisation,
    PaymentRecord,
    RecordError,
    b64,
    genesis_hash,
    unb64,
)
from transit.models import (
    BlacklistEntry,
    CardLoad,
    CardStatus,
    HardWallet,
    TransitBatch,
    TransitIncident,
    TransitOperator,
    TransitRecord,
    TransitTerminal,
)

LIMITS = CardLimits()
MAX_BATCH_RECORDS = 400  # ~180 KiB of JSON: under the API's body limit


class Code:
    """Ledger transfer codes of this plug-in."""

    LOAD = "transit_load"
    UNLOAD = "transit_unload"
    FARE = "transit_fare"
    REFUND = "transit_lost_refund"


# ---------------------------------------------------------------- issuer keys


def issuer_keys() -> dict[str, bytes]:
    """Return kid → raw public key of the issuer keys that verify certificates and loads now."""
    keys.signing_key()  # creates the first key if there is none
    return {k.kid: k.public_key for k in keys.published()}


def issuer_keys_json() -> dict[str, str]:
    return {kid: b64(raw) for kid, raw in issuer_keys().items()}


# ---------------------------------------------------------------- operators and terminals


def create_operator(name: str, kind: str) -> TransitOperator:
    """Create a transit operator with its own receiving account; commit; raise ``Conflict`` on a taken name."""
    if db.session.execute(select(TransitOperator.id).where(TransitOperator.name == name)).first():
        raise Conflict("An operator with this name exists.", code="operator_exists", field="name")
    op = TransitOperator(name=name, kind=kind, account_id=ledger.open_account(AccountKind.MERCHANT),
                         created_at=utcnow())
    db.session.add(op)
    db.session.commit()
    return op


def get_operator(operator_id: int) -> TransitOperator:
    op = db.session.get(TransitOperator, operator_id)
    if op is None:
        raise NotFound(f"Transit operator {operator_id} does not exist.", code="operator_not_found")
    return op


def register_terminal(operator_id: int, terminal_id: str, mode: str, place: str, latitude: float | None = None,
                      longitude: float | None = None) -> tuple[TransitTerminal, str]:
    """Register a validator (at a stop or station, located by ``latitude``/``longitude`` if given: its taps
    then count in the zone it lies in); commit; return it and its upload key (shown once, stored hashed)."""
    get_operator(operator_id)
    if db.session.execute(select(TransitTerminal.id).where(TransitTerminal.terminal_id == terminal_id)).first():
        raise Conflict("A terminal with this id exists.", code="terminal_exists", field="terminal_id")
    key = secrets.token_urlsafe(32)
    t = TransitTerminal(terminal_id=terminal_id, operator_id=operator_id, mode=mode, place=place,
                        latitude=latitude, longitude=longitude, key_sha256=hashlib.sha256(key.encode()).hexdigest(),
                        created_at=utcnow())
    db.session.add(t)
    db.session.commit()
    return t, key


def locate_terminal(terminal_id: str, latitude: float | None, longitude: float | None) -> TransitTerminal:
    """Set (or, with None, clear) where a terminal's stop or station is; commit; return it. Its taps then count in
    the zone the place lies in, past ones too (figures follow the terminal's place, as they follow a merchant's
    zone). Raises ``NotFound`` (terminal_not_found)."""
    t = db.session.execute(select(TransitTerminal).where(TransitTerminal.terminal_id == terminal_id)
                           .with_for_update()).scalar_one_or_none()
    if t is None:
        raise NotFound(f"Terminal {terminal_id} does not exist.", code="terminal_not_found")
    t.latitude, t.longitude = latitude, longitude
    db.session.commit()
    return t


def terminal_for_key(key: str | None) -> TransitTerminal:
    """Return the terminal whose upload key is ``key``; raise ``Unauthorized``."""
    if not key:
        raise Unauthorized("Terminals send their key in X-Terminal-Key.", code="terminal_key_missing",
                           field="X-Terminal-Key")
    digest = hashlib.sha256(key.encode()).hexdigest()
    t = db.session.execute(select(TransitTerminal).where(TransitTerminal.key_sha256 == digest)).scalar_one_or_none()
    if t is None:
        raise Unauthorized("Unknown terminal key.", code="terminal_key_invalid", field="X-Terminal-Key")
    return t


# ---------------------------------------------------------------- cards


def card_json(card: HardWallet) -> dict:
    """A hard wallet as its owner sees it."""
    return {
        "card_id": card.card_id, "ytc_number": card.ytc_number, "status": card.status,
        "balance_fen": ledger.balance(card.account_id),
        "loaded_fen": card.loaded_fen, "spent_fen": card.settled_fen, "unloaded_fen": card.unloaded_fen,
        "refunded_fen": card.refunded_fen, "loss_fen": card.loss_fen, "loads_count": card.loads_count,
        "last_counter": card.last_counter, "unaccounted_fen": unaccounted_fen(card),
        "limits": {"balance_cap_fen": LIMITS.balance_cap_fen, "single_payment_cap_fen": LIMITS.single_payment_cap_fen},
        "last_synced_at": _iso(card.last_synced_at), "reported_lost_at": _iso(card.reported_lost_at),
        "refund_due_at": _iso(card.refund_due_at), "refunded_at": _iso(card.refunded_at),
        "created_at": _iso(card.created_at),
    }


def _iso(value):
    return as_utc(value).isoformat() if value else None


def unaccounted_fen(card: HardWallet) -> int:
    """Spending the card has declared (a later record's running total) whose records the server has not
    seen yet: held back from a lost card's refund until they arrive."""
    return max(0, card.max_spent_fen - card.settled_fen - card.unloaded_fen)


def issue_card(user: User, card_id: str, public_key_b64: str, ytc_number: str | None) -> tuple[HardWallet, dict]:
    """Issue a hard wallet bound to ``user``'s soft wallet; commit; return it and its certificate.

    Raises ``NotFound`` (wallet_not_open), ``ValidationFailed`` (public_key), ``Conflict``
    (card_exists, key_in_use, ytc_number_in_use).
    """
    wallet = wallet_of(user)
    kid, private = keys.signing_key()  # before anything is written: creating the first key commits
    try:
        raw = unb64(public_key_b64, "public_key")
    except RecordError as exc:
        raise ValidationFailed(str(exc), field="public_key") from None
    if len(raw) != 32:
        raise ValidationFailed("A public key is 32 bytes of Ed25519 (base64url).", field="public_key")
    for column, value, code, field in ((HardWallet.card_id, card_id, "card_exists", "card_id"),
                                       (HardWallet.public_key, raw, "key_in_use", "public_key"),
                                       (HardWallet.ytc_number, ytc_number, "ytc_number_in_use", "ytc_number")):
        if value is not None and db.session.execute(select(HardWallet.id).where(column == value)).first():
            raise Conflict(f"This {field} is already registered.", code=code, field=field)
    limits = TierLimits(balance_cap_fen=LIMITS.balance_cap_fen, single_cap_fen=None, day_cap_fen=None,
                        year_cap_fen=None)
    card = HardWallet(card_id=card_id, user_id=user.id, wallet_id=wallet.id,
                      account_id=ledger.open_account(AccountKind.WALLET, limits=limits), ytc_number=ytc_number,
                      public_key=raw, status=CardStatus.ACTIVE, loads_count=0, loaded_fen=0, settled_fen=0,
                      unloaded_fen=0, refunded_fen=0, loss_fen=0, max_spent_fen=0, last_counter=0,
                      created_at=utcnow())
    db.session.add(card)
    db.session.flush()
    cert = CardCertificate(card_id, b64(raw), kid).signed(private)
    db.session.commit()
    return card, cert.to_json()


def my_card(user: User, card_id: str, *, lock: bool = False) -> HardWallet:
    """Return ``user``'s card ``card_id`` (locked if ``lock``); raise ``NotFound`` (another's is not shown)."""
    stmt = select(HardWallet).where(HardWallet.card_id == card_id, HardWallet.user_id == user.id)
    if lock:
        stmt = stmt.with_for_update()
    card = db.session.execute(stmt).scalar_one_or_none()
    if card is None:
        raise NotFound(f"You have no hard wallet {card_id}.", code="card_not_found")
    return card


def my_cards(user: User) -> list[HardWallet]:
    return list(db.session.execute(select(HardWallet).where(HardWallet.user_id == user.id)
                                   .order_by(HardWallet.id)).scalars())


def _require_active(card: HardWallet) -> None:
    if card.status != CardStatus.ACTIVE:
        raise Conflict(f"This card is {card.status}.", code="card_not_active", status_now=card.status)


def load(user: User, card_id: str, amount_fen: int) -> tuple[dict, int]:
    """Move ``amount_fen`` from the soft wallet to the hard wallet (圈存); return the issuer-signed load the
    card applies, and 201. Does not commit (the idempotency wrapper does). Raises ``Conflict``
    (card_not_active) or the ledger's refusals (insufficient_funds, payee_limit_exceeded)."""
    kid, private = keys.signing_key()  # before the transfer: creating the first key commits the session
    card = my_card(user, card_id, lock=True)
    _require_active(card)
    wallet = wallet_of(user)
    if amount_fen > LIMITS.balance_cap_fen:
        raise Unprocessable("A card holds at most its balance cap.", code="payee_limit_exceeded",
                            field="amount_fen", limit_fen=LIMITS.balance_cap_fen)
    posted = ledger.transfer(wallet.account_id, card.account_id, amount_fen, Code.LOAD, actor_user_id=user.id,
                             limited=False)
    seq = card.loads_count + 1
    auth = LoadAuthorisation(card.card_id, seq, amount_fen, kid).signed(private)
    db.session.add(CardLoad(card_pk=card.id, seq=seq, amount_fen=amount_fen, kid=kid, signature=auth.signature,
                            transfer_id=posted.id, created_at=utcnow()))
    card.loads_count = seq
    card.loaded_fen += amount_fen
    db.session.flush()
    return {"authorisation": auth.to_json(), "card": card_json(card), "transfer_id": posted.id}, 201


def loads_of(user: User, card_id: str) -> list[dict]:
    """Every load of the card, signed, in order: a card that missed one can apply it again."""
    card = my_card(user, card_id)
    rows = db.session.execute(select(CardLoad).where(CardLoad.card_pk == card.id).order_by(CardLoad.seq)).scalars()
    return [LoadAuthorisation(card.card_id, r.seq, r.amount_fen, r.kid, r.signature).to_json() for r in rows]


def unload(user: User, card_id: str, record_json: dict) -> tuple[dict, int]:
    """Settle the card's signed unload record back to the soft wallet; return the outcome and 201.
    Raises ``ValidationFailed`` (record), ``Unprocessable`` (record_refused, with the reason)."""
    card = my_card(user, card_id)
    try:
        record = PaymentRecord.from_json(record_json)
    except RecordError as exc:
        raise ValidationFailed(str(exc), field=f"record.{exc.field}" if exc.field else "record") from None
    if record.kind != "unload" or record.terminal_id != ISSUER_TERMINAL or record.card_id != card.card_id:
        raise ValidationFailed("An unload record is the card's, of kind unload, to the issuer.", field="record")
    wallet = wallet_of(user)
    outcome = _settle([record], ISSUER_TERMINAL, None, wallet.account_id, None, ledger.new_batch_id())
    if outcome.rejected:
        raise Unprocessable("The card's record was refused.", code="record_refused",
                            reason=outcome.rejected[0]["reason"])
    db.session.flush()
    return {"card": card_json(my_card(user, card_id)), "duplicate": bool(outcome.duplicates)}, 201


def report_lost(user: User, card_id: str) -> dict:
    """Blacklist a lost card now; its provable balance is refunded once the hold for offline records is
    over. Idempotent. Commits; returns the card as its owner sees it."""
    card = my_card(user, card_id, lock=True)
    if card.status != CardStatus.LOST:
        _move(card, CardStatus.LOST)
        now = utcnow()
        card.reported_lost_at = now
        card.refund_due_at = now + current_app.config["TRANSIT_LOST_REFUND_HOLD"]
        _blacklist(card, "lost")
    body = card_json(card)
    db.session.commit()
    return body


def refund_lost_cards(now: datetime | None = None) -> int:
    """Refund every lost card whose hold is over: its account balance less spending it declared whose records
    never arrived. Module-level job, safe to run twice (a refunded card is skipped). Returns how many."""
    now = now or utcnow()
    due = db.session.execute(select(HardWallet.id).where(
        HardWallet.status == CardStatus.LOST, HardWallet.refunded_at.is_(None), HardWallet.refund_due_at <= now,
    ).order_by(HardWallet.id)).scalars().all()
    done = 0
    for pk in due:
        card = db.session.execute(select(HardWallet).where(HardWallet.id == pk).with_for_update()).scalar_one()
        if card.refunded_at is not None:
            db.session.rollback()
            continue
        amount = ledger.balance(card.account_id) - unaccounted_fen(card)
        if amount > 0:
            from backend.wallets.models import Wallet

            wallet = db.session.get(Wallet, card.wallet_id)
            ledger.transfer(card.account_id, wallet.account_id, amount, Code.REFUND, limited=False)
            card.refunded_fen += amount
        card.refunded_at = now
        db.session.commit()
        done += 1
    return done


def _move(card: HardWallet, status: str) -> None:
    if status not in CardStatus.TRANSITIONS[card.status]:
        raise Conflict(f"A {card.status} card cannot become {status}.", code="illegal_transition")
    card.status = status


def _blacklist(card: HardWallet, reason: str) -> None:
    if db.session.execute(select(BlacklistEntry.id).where(BlacklistEntry.card_pk == card.id)).first() is None:
        db.session.add(BlacklistEntry(card_pk=card.id, reason=reason, created_at=utcnow()))


def blacklist_json() -> dict:
    """The whole blacklist as terminals download it: its version (grows with every entry) and card ids."""
    rows = db.session.execute(select(BlacklistEntry.id, HardWallet.card_id, BlacklistEntry.reason)
                              .join(HardWallet, HardWallet.id == BlacklistEntry.card_pk)
                              .order_by(BlacklistEntry.id)).all()
    return {"version": rows[-1][0] if rows else 0, "card_ids": [r[1] for r in rows],
            "entries": [{"card_id": r[1], "reason": r[2]} for r in rows]}


# ---------------------------------------------------------------- settlement


@dataclass
class Outcome:
    accepted: int = 0
    duplicates: int = 0
    settled_fen: int = 0
    rejected: list | None = None

    def __post_init__(self):
        self.rejected = []


@dataclass
class _Known:
    """What the server holds of one card's records: by counter, and which counter each hash names."""

    counters: list  # sorted
    by_counter: dict  # counter -> (hash, prev_hash, spent_before, amount)
    by_hash: dict  # hash -> counter
    by_prev: dict  # prev_hash -> counter


def settle_batch(terminal: TransitTerminal, body: dict) -> tuple[dict, int]:
    """Settle a terminal's batch; commit; return the response and its status (201 the first time, 200 for
    the same batch again). Raises ``ValidationFailed`` naming the bad record field (nothing written),
    ``Forbidden`` (terminal_mismatch), ``Conflict`` (batch_id_reused: same id, other records)."""
    if body["terminal_id"] != terminal.terminal_id:
        raise Forbidden("This key belongs to another terminal.", code="terminal_mismatch", field="terminal_id")
    records = []
    for i, raw in enumerate(body["records"]):
        try:
            records.append(PaymentRecord.from_json(raw))
        except RecordError as exc:
            raise ValidationFailed(str(exc), field=f"records.{i}.{exc.field}" if exc.field else f"records.{i}") \
                from None
    digest = hashlib.sha256(json.dumps([r.to_json() for r in records], sort_keys=True).encode()).hexdigest()
    batch_id, ledger_batch = body["batch_id"], ledger.new_batch_id()
    batch_pk = db.session.execute(insert_for(TransitBatch.__table__).values(
        terminal_pk=terminal.id, batch_id=batch_id, request_sha256=digest, ledger_batch_id=ledger_batch,
        received_at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["terminal_pk", "batch_id"])
        .returning(TransitBatch.id)).scalar_one_or_none()
    if batch_pk is None:
        prior = db.session.execute(select(TransitBatch).where(TransitBatch.terminal_pk == terminal.id,
                                                              TransitBatch.batch_id == batch_id)).scalar_one()
        db.session.rollback()
        if prior.request_sha256 != digest:
            raise Conflict("This batch id was already sent with other records.", code="batch_id_reused",
                           field="batch_id")
        return {**json.loads(prior.response_json), "replayed": True}, 200
    operator = db.session.get(TransitOperator, terminal.operator_id)
    outcome = _settle(records, terminal.terminal_id, operator.id, operator.account_id, batch_pk, ledger_batch)
    response = {"terminal_id": terminal.terminal_id, "batch_id": batch_id, "received": len(records),
                "accepted": outcome.accepted, "duplicates": outcome.duplicates, "rejected": outcome.rejected,
                "settled_fen": outcome.settled_fen, "blacklist_version": blacklist_json()["version"],
                "replayed": False}
    db.session.execute(update(TransitBatch.__table__).where(TransitBatch.id == batch_pk)
                       .values(response_json=json.dumps(response, ensure_ascii=False)))
    db.session.commit()
    return response, 201


def _known_records(card_pks: list[int]) -> dict[int, _Known]:
    known = {pk: _Known([], {}, {}, {}) for pk in card_pks}
    if not card_pks:
        return known
    R = TransitRecord
    rows = db.session.execute(select(R.card_pk, R.counter, R.hash, R.prev_hash, R.spent_before_fen, R.amount_fen)
                              .where(R.card_pk.in_(card_pks)).order_by(R.card_pk, R.counter))
    for pk, counter, h, prev, spent, amount in rows:
        k = known[pk]
        k.counters.append(counter)
        k.by_counter[counter] = (h, prev, spent, amount)
        k.by_hash[h] = counter
        k.by_prev[prev] = counter
    return known


def _check_chain(r: PaymentRecord, k: _Known) -> str | None:
    """Return why ``r`` disagrees with the card's records held (None: it agrees)."""
    n, h = r.counter, r.hash
    if (r.prev_hash == genesis_hash(r.card_id)) != (n == 1):
        return "counter_gap"
    named = k.by_hash.get(r.prev_hash)
    if named is not None and named != n - 1:
        return "counter_gap"  # the previous record it names is not the one just before it
    pred = k.by_counter.get(n - 1)
    if pred is not None and pred[0] != r.prev_hash:
        return "chain_fork"  # another record n-1 than the one the card remembers: a clone
    i = bisect.bisect_left(k.counters, n)
    if i > 0:
        p = k.by_counter[k.counters[i - 1]]
        need = p[2] + p[3]
        if r.spent_before_fen < need or (k.counters[i - 1] == n - 1 and r.spent_before_fen != need):
            return "hidden_spending"
    if i < len(k.counters):
        s_counter = k.counters[i]
        s = k.by_counter[s_counter]
        if s[2] < r.spent_after_fen or (s_counter == n + 1 and (s[2] != r.spent_after_fen or s[1] != h)):
            return "chain_fork"
    follower = k.by_prev.get(h)
    if follower is not None and follower != n + 1:
        return "counter_gap"
    return None


def _settle(records: list[PaymentRecord], uploader: str, operator_id: int | None, credit_account_id: int,
            batch_pk: int | None, ledger_batch: str) -> Outcome:
    """Check and settle ``records`` uploaded by ``uploader``; post one transfer per card to
    ``credit_account_id``. Runs in the caller's transaction; never commits."""
    out = Outcome()
    ids = sorted({r.card_id for r in records})
    cards = {c.card_id: c for c in db.session.execute(
        select(HardWallet).where(HardWallet.card_id.in_(ids)).order_by(HardWallet.id).with_for_update()).scalars()}
    known = _known_records([c.id for c in cards.values()])
    left = {c.id: ledger.balance(c.account_id) for c in cards.values()}
    sums: dict[int, int] = {}
    rows: list[dict] = []
    now = utcnow()
    unload = uploader == ISSUER_TERMINAL

    def reject(r: PaymentRecord, reason: str, card: HardWallet | None, *, loss: bool = False) -> None:
        out.rejected.append({"card_id": r.card_id, "counter": r.counter, "reason": reason})
        loss_fen = r.amount_fen if loss else 0
        db.session.add(TransitIncident(card_pk=card.id if card else None, card_id=r.card_id[:40], kind=reason,
                                       counter=r.counter, terminal_id=r.terminal_id[:40], loss_fen=loss_fen,
                                       detail=json.dumps({"record": r.to_json(), "uploaded_by": uploader}),
                                       created_at=now))
        if card is not None:
            card.loss_fen += loss_fen
            if card.status == CardStatus.ACTIVE:
                _move(card, CardStatus.BLACKLISTED)
            _blacklist(card, reason)

    for r in sorted(records, key=lambda x: (x.card_id, x.counter)):
        card = cards.get(r.card_id)
        if card is None:
            reject(r, "unknown_card", None)
            continue
        k = known[card.id]
        if not r.verify(card.public_key):
            reject(r, "forged_signature", card)
            continue
        if r.terminal_id != uploader or (r.kind == "unload") != unload:
            reject(r, "replayed_record", card)  # a genuine terminal uploads only its own records
            continue
        held = k.by_counter.get(r.counter)
        if held is not None:
            if held[0] == r.hash:
                out.duplicates += 1
            else:
                reject(r, "double_spend", card, loss=True)  # same counter, other contents: a clone
            continue
        if r.loaded_fen > card.loaded_fen or r.spent_after_fen > r.loaded_fen \
                or (r.kind == "fare" and r.amount_fen > LIMITS.single_payment_cap_fen):
            reject(r, "beyond_loaded", card, loss=True)
            continue
        problem = _check_chain(r, k)
        if problem:
            reject(r, problem, card, loss=True)
            continue
        if left[card.id] < r.amount_fen:
            reject(r, "beyond_loaded", card, loss=True)  # spends money already spent elsewhere
            continue
        left[card.id] -= r.amount_fen
        bisect.insort(k.counters, r.counter)
        k.by_counter[r.counter] = (r.hash, r.prev_hash, r.spent_before_fen, r.amount_fen)
        k.by_hash[r.hash] = r.counter
        k.by_prev[r.prev_hash] = r.counter
        sums[card.id] = sums.get(card.id, 0) + r.amount_fen
        card.max_spent_fen = max(card.max_spent_fen, r.spent_after_fen)
        card.last_counter = max(card.last_counter, r.counter)
        card.last_synced_at = now
        if unload:
            card.unloaded_fen += r.amount_fen
        else:
            card.settled_fen += r.amount_fen
        rows.append({"card_pk": card.id, "counter": r.counter, "kind": r.kind, "amount_fen": r.amount_fen,
                     "terminal_id": r.terminal_id, "operator_id": operator_id,
                     "at": datetime.fromtimestamp(r.at, UTC), "trip": r.trip, "prev_hash": r.prev_hash,
                     "hash": r.hash, "spent_before_fen": r.spent_before_fen, "loaded_fen": r.loaded_fen,
                     "signature": r.signature, "batch_pk": batch_pk, "settled_at": now})
        out.accepted += 1
        out.settled_fen += r.amount_fen
    if rows:
        db.session.execute(insert(TransitRecord.__table__), rows)
    for card in sorted(cards.values(), key=lambda c: c.id):
        if sums.get(card.id):
            ledger.transfer(card.account_id, credit_account_id, sums[card.id], Code.UNLOAD if unload else Code.FARE,
                            batch_id=ledger_batch, limited=False)
    db.session.flush()
    return out


# ---------------------------------------------------------------- reports


def records_of(user: User, card_id: str, limit: int = 20, before: int | None = None) -> list[dict]:
    """The card's settled records (journeys and unloads), highest counter first."""
    card = my_card(user, card_id)
    R = TransitRecord
    stmt = select(R).where(R.card_pk == card.id).order_by(R.counter.desc()).limit(limit)
    if before:
        stmt = stmt.where(R.counter < before)
    return [{"counter": r.counter, "kind": r.kind, "amount_fen": r.amount_fen, "terminal_id": r.terminal_id,
             "trip": r.trip, "at": _iso(r.at), "settled_at": _iso(r.settled_at)}
            for r in db.session.execute(stmt).scalars()]


def incidents(limit: int = 100, before: int | None = None) -> list[TransitIncident]:
    stmt = select(TransitIncident).order_by(TransitIncident.id.desc()).limit(limit)
    if before:
        stmt = stmt.where(TransitIncident.id < before)
    return list(db.session.execute(stmt).scalars())


def operator_statement(operator_id: int, day) -> dict:
    """One operator's settlement statement for a local day: records settled that day, by terminal."""
    from datetime import timedelta

    op = get_operator(operator_id)
    start = datetime.combine(day, datetime.min.time(), tzinfo=UTC) - timedelta(hours=8)
    end = start + timedelta(days=1)
    R = TransitRecord
    rows = db.session.execute(select(R.terminal_id, func.count(), func.coalesce(func.sum(R.amount_fen), 0))
                              .where(R.operator_id == op.id, R.settled_at >= start, R.settled_at < end)
                              .group_by(R.terminal_id).order_by(R.terminal_id)).all()
    return {"operator_id": op.id, "name": op.name, "date": day.isoformat(),
            "terminals": [{"terminal_id": t, "records": n, "amount_fen": s} for t, n, s in rows],
            "records": sum(r[1] for r in rows), "amount_fen": sum(r[2] for r in rows),
            "balance_fen": ledger.balance(op.account_id)}
