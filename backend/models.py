"""Imports every model so the metadata (and Alembic) sees all tables."""

from backend.auth.models import AuthToken, User  # noqa: F401
from backend.banks.models import OperatorBank  # noqa: F401
from backend.idempotency import IdempotencyKey  # noqa: F401
from backend.ledger.models import Account, Transfer  # noqa: F401
from backend.merchants.models import Merchant, MerchantStaff  # noqa: F401
from backend.payments.models import (  # noqa: F401
    Order,
    PaycodeDevice,
    PaycodeUse,
    Refund,
    SigningKey,
    Statement,
    StaticQrSpend,
)
from backend.wallets.models import Wallet  # noqa: F401
