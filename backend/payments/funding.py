"""How a payment asks plug-ins for subsidies, without importing them.

A payment of ``amount_fen`` is paid in legs, all in one transaction and all
landing in the merchant's wallet, so the merchant always receives the full
price: the subsidy legs a ``FundingProvider`` returns (red-packet balances,
coupon discounts funded by a campaign budget) and the consumer's main
balance for the rest. The campaigns plug-in registers its provider in
``create_app``; with none registered every payment is one leg.

A refund walks the legs in the order they were paid — main balance first,
then subsidies — reversing each into the account it came from; the provider
is told about each subsidy leg it gets back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from flask import current_app

EXTENSION = "suiyuan.funding_provider"


@dataclass(frozen=True)
class SubsidyLeg:
    """One part of a payment funded by a plug-in.

    ``source_account_id`` is debited (a restricted red-packet account, a
    campaign budget); ``code`` is the transfer code; ``ref`` is the plug-in's
    own reference, stored as the transfer's memo.
    """

    source_account_id: int
    amount_fen: int
    code: str
    ref: str


class FundingProvider(Protocol):
    def legs(self, *, order_id: int, payer_user_id: int, merchant_id: int, amount_fen: int) -> list[SubsidyLeg]:
        """Inside the payment transaction: reserve and return the subsidy legs (sum ≤ ``amount_fen``)."""

    def quote(self, *, payer_user_id: int, merchant_id: int, amount_fen: int) -> list[SubsidyLeg]:
        """Outside any payment: the legs ``legs`` would return now, reserving and writing nothing
        (the preview shows them). Optional: without it a preview shows no subsidy."""

    def may_fund(self, *, payer_user_id: int) -> bool:
        """Whether any leg could apply to a payment by this payer (False lets the payment skip ``legs``).

        A provider without this method is asked ``legs`` on every payment."""

    def may_fund_sql(self) -> tuple[str, dict]:
        """Optional: ``may_fund``'s own statement as SQL text with ``:payer`` and ``:at`` (the payer's user id,
        now) and its fixed parameters, returning a row whenever ``may_fund`` would say True. PostgreSQL's
        one-call payment (``backend.payments.express``) asks it inside its statement."""

    def leg_refunded(self, *, order_id: int, ref: str, amount_fen: int) -> None:
        """Inside the refund transaction: ``amount_fen`` of the leg ``ref`` went back to its source."""


def register(app, provider: FundingProvider) -> None:
    """Make ``provider`` the app's source of subsidies."""
    app.extensions[EXTENSION] = provider


def provider() -> FundingProvider | None:
    """Return the registered provider, if any."""
    return current_app.extensions.get(EXTENSION)
