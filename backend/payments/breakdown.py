"""How a payment splits: the price, what red packets and coupons pay, and what leaves the wallet.

The same figures before paying (``quote``: ``payments/preview``), on the
payer's receipt and on the merchant's (``of_legs``), so the confirm button,
the debit and the success page can never disagree. The merchant always
receives the full price.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.auth.models import User
from backend.ledger import service as ledger
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant
from backend.payments import funding
from backend.wallets.service import wallet_of


def of_legs(price_fen: int, legs: Iterable[tuple[str, int]]) -> dict:
    """Return the split of a payment of ``price_fen`` paid by ``legs`` ((transfer code, amount_fen) pairs)."""
    legs = list(legs)
    red = sum(a for c, a in legs if c == TransferCode.RED_PACKET_SPEND)
    coupon = sum(a for c, a in legs if c == TransferCode.COUPON_SUBSIDY)
    return {"price_fen": price_fen, "red_packet_fen": red, "coupon_fen": coupon,
            "from_wallet_fen": price_fen - red - coupon, "merchant_receives_fen": price_fen}


def quote(payer: User, merchant: Merchant, price_fen: int) -> dict:
    """Return the split a payment made now would get, and whether the wallet's balance covers its part.

    Reserves nothing (the campaigns' provider only prices); a coupon used
    meanwhile by another payment of the same person may still change it.
    Raises ``NotFound`` (``wallet_not_open``).
    """
    provider = funding.provider()
    pricer = getattr(provider, "quote", None)
    legs = pricer(payer_user_id=payer.id, merchant_id=merchant.id, amount_fen=price_fen) if pricer else []
    body = of_legs(price_fen, [(leg.code, leg.amount_fen) for leg in legs])
    balance = ledger.balance(wallet_of(payer).account_id)
    body.update(wallet_balance_fen=balance, enough_balance=body["from_wallet_fen"] <= balance,
                short_fen=max(0, body["from_wallet_fen"] - balance))
    return body
