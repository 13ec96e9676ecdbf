"""The consumer's side of hard wallets (硬钱包), without Kivy: issue a card, load it from the soft wallet (圈存),
unload it back (圈提), report it lost, and the journeys of its synced records with the caps they reached.

The card is a secure element (:class:`suiyuan_protocol.transit.card.HardCard`); the phone reaches it by touch
(碰一碰, NFC). In the simulator the cards within reach are a :class:`CardShelf` (a JSON store of the chips'
state, what the validator app reads as a card file). A card that is not within reach still shows what the
server knows of it; a load made meanwhile is applied at the next touch (the server keeps every signed load).

Money moments are idempotent end to end: a load goes through the outbox (a retry keeps its Idempotency-Key,
so the soft wallet is debited once); an unload record is kept on the phone from the moment the card signs it
until the server has answered, and sending it again is harmless (the server settles each card counter once).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from payclient.errors import ApiError, NetworkError
from payclient.storage import MemoryStore
from suiyuan_protocol.transit.card import CardRefused, HardCard, new_card_id
from suiyuan_protocol.transit.fares import DEFAULT_RULES, FareRules
from suiyuan_protocol.transit.records import CardCertificate, LoadAuthorisation, b64, unb64

PENDING = "_pending_unloads"
CST = timedelta(hours=8)


class CardShelf:
    """The hard wallets within the phone's reach (the simulator's NFC): chip state by card id, and the unload
    records signed but not yet answered by the server."""

    def __init__(self, store: MemoryStore | None = None):
        self.store = store or MemoryStore()

    def card(self, card_id: str) -> HardCard | None:
        data = self.store.load().get(card_id)
        return HardCard.from_json(data) if data else None

    def save(self, card: HardCard) -> None:
        data = self.store.load()
        data[card.card_id] = card.to_json()
        self.store.save(data)

    def card_ids(self) -> list[str]:
        return sorted(k for k in self.store.load() if k != PENDING)

    def pending_unloads(self) -> dict[str, dict]:
        """Signed unload records the server has not answered yet: card id → record."""
        return dict(self.store.load().get(PENDING, {}))

    def keep_unload(self, card: HardCard, record: dict) -> None:
        """Save the card after it signed ``record`` and the record with it, in one write."""
        data = self.store.load()
        data[card.card_id] = card.to_json()
        data[PENDING] = {**data.get(PENDING, {}), card.card_id: record}
        self.store.save(data)

    def unload_done(self, card_id: str) -> None:
        data = self.store.load()
        pending = dict(data.get(PENDING, {}))
        pending.pop(card_id, None)
        data[PENDING] = pending
        self.store.save(data)


def issue(api, shelf: CardShelf, ytc_number: str | None = None):
    """Make a new card (its key is generated on the chip), register its public key, install the issuer's
    certificate on it; return the server's view of it."""
    card = HardCard.create(new_card_id())
    server, body = api.transit_issue(card.card_id, b64(card.public_key), ytc_number)
    card.install(CardCertificate.from_json(body["certificate"]),
                 {kid: unb64(v) for kid, v in body["issuer_keys"].items()})
    card.ytc_number = ytc_number
    shelf.save(card)
    return server


def apply_missed_loads(api, shelf: CardShelf, card_id: str) -> int:
    """Apply to the card within reach every signed load it has not applied yet; return how many."""
    card = shelf.card(card_id)
    if card is None:
        return 0
    done = 0
    for auth in api.transit_loads(card_id):
        if auth["seq"] > card.load_seq:
            card.apply_load(LoadAuthorisation.from_json(auth))
            done += 1
    if done:
        shelf.save(card)
    return done


def load(api, shelf: CardShelf, card_id: str, amount_fen: int):
    """Load ``amount_fen`` from the soft wallet (圈存): the server moves the money and signs the load, the card
    within reach applies it (one not within reach applies it at its next touch). Returns the server's card."""
    done = api.transit_load(card_id, amount_fen)
    if shelf.card(card_id) is not None:
        try:
            apply_missed_loads(api, shelf, card_id)
        except (NetworkError, CardRefused):
            pass  # the money moved and the server keeps the signed load: the card's next touch applies it
    return done.card


def unload(api, shelf: CardShelf, card_id: str, amount_fen: int, at: int | None = None):
    """Return ``amount_fen`` to the soft wallet (圈提): the card within reach signs an unload record, the phone
    keeps it, then sends it. Returns the server's card. Raises ``LookupError`` when the card is not within
    reach, the card's ``CardRefused`` (e.g. insufficient_balance) before anything is sent, and the API's
    errors (a ``NetworkError`` leaves the record kept: :func:`resend_unloads` finishes it)."""
    card = shelf.card(card_id)
    if card is None:
        raise LookupError(card_id)
    if card_id in shelf.pending_unloads():  # finish the one signed before: never sign a second on top of it
        resend_unloads(api, shelf)
        card = shelf.card(card_id)
    record = card.unload(amount_fen, at if at is not None else int(datetime.now(UTC).timestamp()))
    shelf.keep_unload(card, record.to_json())
    result = api.transit_unload(card_id, record.to_json())
    shelf.unload_done(card_id)
    return result


def resend_unloads(api, shelf: CardShelf) -> int:
    """Send again every kept unload record; return how many got an answer. A request still in the outbox goes
    again under its own Idempotency-Key; one that never reached the outbox (the app stopped between the card's
    signature and the send) goes as a new request, which is as safe: the server settles each card counter
    once. A refusal drops the record (it was answered); no network keeps it."""
    owner = api.tokens.user["id"] if api.tokens.user else None
    queued = {(e.path, e.body.get("record", {}).get("signature")): e
              for e in api.outbox.pending(str(owner) if owner is not None else None) if e.method == "POST"}
    answered = 0
    for card_id, record in shelf.pending_unloads().items():
        entry = queued.get((f"/transit/cards/{card_id}/unloads", record.get("signature")))
        try:
            if entry is not None:
                api.deliver(entry)
            else:
                api.transit_unload(card_id, record)
        except NetworkError:
            continue
        except ApiError:
            pass
        shelf.unload_done(card_id)
        answered += 1
    return answered


def report_lost(api, card_id: str):
    """Report the card lost (blacklisted now; its provable balance refunded after the hold)."""
    return api.transit_report_lost(card_id)


# ---------------------------------------------------------------- journeys and caps


@dataclass(frozen=True)
class Journey:
    trip: str
    fare_fen: int
    at: datetime | None


@dataclass(frozen=True)
class JourneyDay:
    """One Guangzhou day of fares: its journeys (newest first), its total, and the cap reached that day
    (``"day"``, ``"month"`` or ``None``)."""

    day: str
    journeys: list
    total_fen: int
    capped: str | None


def local_day(when: datetime) -> str:
    return (when.astimezone(UTC) + CST).strftime("%Y-%m-%d")


def journey_days(records, rules: FareRules = DEFAULT_RULES) -> list[JourneyDay]:
    """Group fare records (unloads are not journeys) by local day, newest first; a day whose fares reach the
    daily cap is ``capped="day"``, one on which the month's fares reach the monthly cap ``"month"``."""
    fares = sorted((r for r in records if r.kind == "fare" and r.at is not None), key=lambda r: (r.at, r.counter))
    month_total: dict[str, int] = {}
    days: dict[str, JourneyDay] = {}
    for r in fares:
        day = local_day(r.at)
        month_total[day[:7]] = month_total.get(day[:7], 0) + r.amount_fen
        prev = days.get(day)
        journeys = [Journey(r.trip, r.amount_fen, r.at), *(prev.journeys if prev else [])]
        total = (prev.total_fen if prev else 0) + r.amount_fen
        capped = prev.capped if prev else None
        if rules.month_cap_fen is not None and month_total[day[:7]] >= rules.month_cap_fen:
            capped = "month"
        elif capped is None and rules.day_cap_fen is not None and total >= rules.day_cap_fen:
            capped = "day"
        days[day] = JourneyDay(day, journeys, total, capped)
    return [days[d] for d in sorted(days, reverse=True)]
