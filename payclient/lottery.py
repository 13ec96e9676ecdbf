"""Lottery tickets on the device: the secret a registrant commits to, kept until it is revealed.

A lottery draw mixes the operator's seed with the registrants' secrets
(``docs/CAMPAIGNS.md``). At registration the device makes a random 32-byte
secret, stores it (0600 file, atomically) *before* sending its commitment
``sha256(secret)``, so a registration whose answer was lost is retried with the
same commitment. After registration closes and before ``draw_at`` the device
reveals the secret (:func:`reveal_due`, called whenever the app loads its
campaign list or its home screen). Only a reveal that reaches the server counts;
the secret never leaves the device earlier (an early reveal would let the
operator see it while it can still add registrations).

Tickets are kept per signed-in user and campaign: ``{owner: {campaign_id: ticket}}``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from payclient.errors import ApiError, NetworkError
from payclient.storage import MemoryStore

__all__ = ["Ticket", "LotteryTickets", "commitment_of", "reveal_due", "reveal_pending", "ticket_state", "STATES"]

#: A registrant's state as the app shows it.
STATES = ("none", "committed", "reveal_open", "revealed", "missed", "won", "lost", "cancelled")


def commitment_of(secret_hex: str) -> str:
    """The commitment the server checks: ``sha256(bytes.fromhex(secret))`` in hex (``campaigns.draw``)."""
    return hashlib.sha256(bytes.fromhex(secret_hex)).hexdigest()


@dataclass(frozen=True)
class Ticket:
    campaign_id: int
    secret: str  # 64 hex digits; never sent before registration closes
    commitment: str
    registered: bool = False  # the server answered the registration
    revealed_at: str | None = None  # when the server accepted the reveal (ISO-8601)
    refused: str | None = None  # a reveal refusal that retrying cannot fix (its code)

    def to_json(self) -> dict:
        return {"secret": self.secret, "commitment": self.commitment, "registered": self.registered,
                "revealed_at": self.revealed_at, "refused": self.refused}


class LotteryTickets:
    """The device's lottery secrets in a :class:`~payclient.storage.MemoryStore` (a ``JsonFile`` on disk)."""

    def __init__(self, store: MemoryStore):
        self._store = store

    def _all(self) -> dict:
        return self._store.load()

    def get(self, owner: str, campaign_id: int) -> Ticket | None:
        d = self._all().get(str(owner), {}).get(str(campaign_id))
        return Ticket(campaign_id, **d) if d else None

    def of(self, owner: str) -> list[Ticket]:
        """This user's tickets, by campaign id."""
        mine = self._all().get(str(owner), {})
        return [Ticket(int(cid), **d) for cid, d in sorted(mine.items(), key=lambda kv: int(kv[0]))]

    def _put(self, owner: str, ticket: Ticket) -> Ticket:
        data = self._all()
        data.setdefault(str(owner), {})[str(ticket.campaign_id)] = ticket.to_json()
        self._store.save(data)
        return ticket

    def issue(self, owner: str, campaign_id: int) -> Ticket:
        """The ticket to register with: the stored one (a retry commits to the same secret) or a new one,
        written to storage before anything is sent."""
        existing = self.get(owner, campaign_id)
        if existing is not None:
            return existing
        secret = secrets.token_bytes(32).hex()
        return self._put(owner, Ticket(campaign_id, secret, commitment_of(secret)))

    def update(self, owner: str, campaign_id: int, **changes) -> Ticket:
        t = self.get(owner, campaign_id)
        if t is None:
            raise KeyError(campaign_id)
        return self._put(owner, Ticket(**{**t.__dict__, **changes}))

    def forget(self, owner: str, campaign_id: int) -> None:
        data = self._all()
        data.get(str(owner), {}).pop(str(campaign_id), None)
        self._store.save(data)


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _now(now: datetime | None) -> datetime:
    return now or datetime.now(UTC)


def reveal_window(campaign) -> tuple[datetime | None, datetime | None]:
    """``(registration ends, draw_at)`` of a lottery campaign (payclient ``Campaign``)."""
    return campaign.window("registration_ends_at"), _time(campaign.draw_at)


#: Reveal refusals that no retry can fix; anything else (a network error, 5xx) is retried at the next load.
_FINAL = {"not_registered", "no_commitment", "campaign_cancelled", "not_a_lottery"}


def reveal_due(api, tickets: LotteryTickets, owner: str, campaigns, now: datetime | None = None) -> list[int]:
    """Reveal every stored secret whose campaign is in its reveal window; return the campaign ids revealed.

    ``campaigns``: the lottery campaigns (payclient ``Campaign``) the tickets belong to, as just fetched.
    Safe to call any number of times (the server accepts the same secret again; a revealed ticket is
    skipped). A network failure leaves the ticket for the next call; a refusal that will not change
    (not registered, cancelled, a secret the server does not accept) is recorded on the ticket.
    """
    at = _now(now)
    done = []
    by_id = {c.id: c for c in campaigns}
    for t in tickets.of(owner):
        c = by_id.get(t.campaign_id)
        if c is None or t.revealed_at or t.refused:
            continue
        closes, draw_at = reveal_window(c)
        if c.drawn_at or c.status in ("cancelled", "settled") or (draw_at is not None and at >= draw_at):
            tickets.update(owner, t.campaign_id, refused="window_over")  # nothing to reveal into any more
            continue
        if closes is None or draw_at is None or at < closes:
            continue
        try:
            answer = api.reveal_lottery(t.campaign_id, t.secret)
        except NetworkError:
            continue
        except ApiError as exc:
            if exc.status == 422 or exc.code in _FINAL:
                tickets.update(owner, t.campaign_id, refused=exc.code or f"http_{exc.status}")
            continue
        tickets.update(owner, t.campaign_id, revealed_at=answer.get("revealed_at") or at.isoformat(),
                       registered=True)
        done.append(t.campaign_id)
    return done


def ticket_state(campaign, ticket: Ticket | None, now: datetime | None = None) -> str:
    """Where a registrant stands in a lottery (one of :data:`STATES`).

    The server's word (``campaign.me``: ``revealed_at``, the draw's claim) wins over the device's; the
    device's ticket says what happens next. ``none``: registered without a commitment from this device.
    """
    me = campaign.me or {}
    at = _now(now)
    if campaign.status == "cancelled" and not campaign.drawn_at:
        return "cancelled"
    revealed = bool(me.get("revealed_at") or (ticket and ticket.revealed_at))
    committed = bool(me.get("commitment") or ticket)
    if campaign.drawn_at:
        return "won" if me.get("claimed") else "lost"
    if not committed:
        return "none"
    if revealed:
        return "revealed"
    closes, draw_at = reveal_window(campaign)
    if draw_at is not None and at >= draw_at:
        return "missed"
    if closes is not None and at >= closes:
        return "reveal_open" if not (ticket and ticket.refused) else "missed"
    return "committed"


def reveal_pending(api, tickets: LotteryTickets, owner: str, now: datetime | None = None) -> list[int]:
    """Reveal what is due without a campaign list at hand (at app start, from the home screen): fetch the
    campaigns of this user's unrevealed tickets, then :func:`reveal_due`. Network trouble is left for later."""
    waiting = [t.campaign_id for t in tickets.of(owner) if not t.revealed_at and not t.refused]
    found = []
    for cid in waiting:
        try:
            found.append(api.campaign(cid))
        except (NetworkError, ApiError):
            continue
    return reveal_due(api, tickets, owner, found, now)
