"""The edge to the operator banks' card networks.

Top-up (兑换) debits the consumer's linked bank card and the bank issues the
same amount of e-CNY into the wallet; redemption does the reverse. The card
network is the one true external system here, so it sits behind a small
interface; ``SimulatedCardNetwork`` is the implementation for the embedded
default and tests, with deterministic declines on well-known test numbers
(like a card processor's sandbox).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from backend.errors import Unprocessable


class CardDeclined(Unprocessable):
    code = "card_declined"
    title = "Card declined"


def luhn_ok(number: str) -> bool:
    """Return True when ``number`` (digits only) passes the Luhn check."""
    if not number.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def mask_card(number: str) -> str:
    """Return the card number as shown to people: last four digits only."""
    return f"**** **** **** {number[-4:]}"


def card_token(number: str) -> str:
    """Return a stable token for a card number (the number itself is never stored)."""
    return hashlib.sha256(f"suiyuan-card:{number}".encode()).hexdigest()


@dataclass(frozen=True)
class CardResult:
    reference: str


class CardNetwork(Protocol):
    def debit(self, bank_code: str, token: str, amount_fen: int, reference: str) -> CardResult: ...

    def credit(self, bank_code: str, token: str, amount_fen: int, reference: str) -> CardResult: ...


#: Test cards whose tokens the simulated network declines.
DECLINED_TEST_CARDS = {"4000000000000002": "card_declined", "4000000000009995": "insufficient_card_funds"}


class SimulatedCardNetwork:
    """Approves every card except the well-known declining test numbers."""

    _declined = {card_token(n): reason for n, reason in DECLINED_TEST_CARDS.items()}

    def debit(self, bank_code: str, token: str, amount_fen: int, reference: str) -> CardResult:
        reason = self._declined.get(token)
        if reason:
            raise CardDeclined(f"The bank declined the card ({reason}).", decline_reason=reason)
        return CardResult(reference=f"{bank_code}-{reference}")

    def credit(self, bank_code: str, token: str, amount_fen: int, reference: str) -> CardResult:
        return CardResult(reference=f"{bank_code}-{reference}")
