"""Zone KPIs: what each figure means, and what the live counting and the rebuild share.

Per zone and local day (``Asia/Shanghai``); a merchant's payments count in the zone it is placed in now.
``payment_*`` are paid orders at full price (every leg), ``refund_*`` refunds on their own day,
``active_wallets`` distinct payers, ``wallets_opened`` wallets whose first-ever payment was here,
``merchants_accepting`` distinct merchants paid, ``subsidy_fen`` the legs from ``campaign``/``restricted``
accounts that share the order's batch, ``subsidy_driven_fen`` the full price of subsidised payments.

``zones.counting`` keeps the daily tables current as payments settle, ``zones.rebuild`` recomputes them
from the ledger (and must agree exactly), ``zones.queries`` reads them. The full definitions, how a
payment is counted exactly once and why the rebuild locks the tables: ``docs/ARCHITECTURE.md`` (Zone KPIs).
"""


from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from backend.clock import as_utc, local_zone
from backend.ledger.models import Account, AccountKind, Transfer
from backend.merchants.models import Merchant
from backend.payments.models import Order, Refund
from backend.sql import fen_sum
from zones.models import ZoneDailyPayer, ZoneKpiApplied, ZoneKpiDaily, ZoneMerchant, ZoneMerchantDaily

KD = ZoneKpiDaily.__table__
MD = ZoneMerchantDaily.__table__
PAYERS = ZoneDailyPayer.__table__
APPLIED = ZoneKpiApplied.__table__
ZM = ZoneMerchant.__table__
O = Order.__table__  # noqa: E741
O2 = O.alias("payer_orders")
R = Refund.__table__
T = Transfer.__table__
A = Account.__table__
M = Merchant.__table__

#: Accounts whose money reaching a merchant is a subsidy (campaign budgets, red-packet balances).
SUBSIDY_ACCOUNT_KINDS = (AccountKind.CAMPAIGN, AccountKind.RESTRICTED)

#: The daily columns, in the order the API and the CSV list them.
DAILY_COLUMNS = ("payment_count", "payment_fen", "refund_count", "refund_fen", "active_wallets", "wallets_opened",
                 "merchants_accepting", "subsidy_fen", "subsidised_payment_count", "subsidy_driven_fen")
#: The columns that add up over days (the others are distinct counts).
ADDITIVE = ("payment_count", "payment_fen", "refund_count", "refund_fen", "wallets_opened", "subsidy_fen",
            "subsidised_payment_count", "subsidy_driven_fen")
#: Aggregate tables in the order every writer locks them (live updates and the rebuild), so they cannot deadlock.
TABLES_IN_LOCK_ORDER = ("zone_kpi_applied", "zone_merchant_daily", "zone_daily_payers", "zone_kpi_daily")

MAX_SPAN_DAYS = 366



def local_day_of(instant: datetime) -> date:
    """Return the local (pilot time zone) day of a stored instant."""
    return as_utc(instant).astimezone(local_zone()).date()


def average_ticket(payment_fen: int, payment_count: int) -> int:
    """Return the average payment in fen, rounded half up; 0 without payments."""
    if not payment_count:
        return 0
    return (2 * payment_fen + payment_count) // (2 * payment_count)


def leverage(driven_fen: int, subsidy_fen: int) -> float | None:
    """Return consumption driven per fen of subsidy (2 decimals), or ``None`` without subsidy."""
    return round(driven_fen / subsidy_fen, 2) if subsidy_fen else None


def as_date(value) -> date:
    """A day as read back from either engine (SQLite returns text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def subsidy_fen_of(reference, merchant_account_id):
    """Return SQL for the fen of an order's subsidy legs (see ``docs/ARCHITECTURE.md``)."""
    return (
        select(fen_sum(T.c.amount_fen))
        .select_from(T.join(A, A.c.id == T.c.debit_account_id))
        .where(T.c.batch_id == reference, T.c.credit_account_id == merchant_account_id, T.c.reverses_id.is_(None),
               A.c.kind.in_(SUBSIDY_ACCOUNT_KINDS))
    )
