"""Imports every model so the metadata (and Alembic) sees all tables."""

from backend.auth.models import AuthToken, User  # noqa: F401
from backend.banks.models import OperatorBank  # noqa: F401
from backend.idempotency import IdempotencyKey  # noqa: F401
from backend.ledger.models import Account, Transfer  # noqa: F401
from backend.merchants.models import Merchant  # noqa: F401
from backend.wallets.models import Wallet  # noqa: F401
