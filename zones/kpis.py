"""Zone KPIs: what each figure means, how it is kept up to date, how it is rebuilt from the ledger.

Definitions — per zone and per local day (``Asia/Shanghai``, the app's
``TIMEZONE``). A merchant's payments count in the zone it is placed in now
(``zone_merchants``); merchants in no zone count nowhere.

``payment_count`` / ``payment_fen``
    Orders paid at the zone's merchants, on the local day of the order's
    payment transfer (= ``orders.paid_at``), and their full price
    (``orders.amount_fen``: every leg — the consumer's balance plus any red
    packet or coupon — so the figure is what consumers spent).
``refund_count`` / ``refund_fen``
    Refunds of those merchants' orders, on the day of the refund (not of the
    order). ``net_fen = payment_fen - refund_fen``.
``average_ticket_fen``
    ``payment_fen / payment_count``, rounded half up to a whole fen (0 when no payment).
``active_wallets``
    Distinct wallets (payers) that paid at the zone's merchants that day. For
    a period: distinct wallets over the whole period, not the sum of the days.
``wallets_opened``
    Wallets whose *first-ever* merchant payment — the lowest payment transfer
    id over all their paid orders, anywhere in the city — was made at one of
    the zone's merchants that day. A wallet is opened at an operator bank,
    which has no location, and a wallet that is opened but never used
    promotes nothing; what a zone can claim is bringing a wallet into use.
    Each wallet is credited to at most one zone, once, so sums over zones and
    days never double count (a zone's "new users").
``merchants_accepting``
    Distinct merchants of the zone that accepted at least one payment that
    day (for a period: distinct over the period). ``merchants_enrolled``,
    reported beside it, is the number of approved merchants placed in the zone now.
Scenario coverage
    A scenario (食住行游购娱医) is covered in a period when at least one
    merchant of that scenario in the zone accepted a payment in the period;
    the others are missing. ``scenarios_enrolled`` says which have at least
    an approved merchant, to tell "no merchant" from "no use".
``subsidy_fen``
    The part of those payments that campaigns paid (red packets, coupon
    discounts): payment legs into the merchant's wallet that share the
    order's batch (``transfers.batch_id`` = the order reference) and are
    debited from a ``campaign`` or ``restricted`` account.
``subsidised_payment_count`` / ``subsidy_driven_fen``
    The payments with any subsidy leg, and their full price: the consumption
    the subsidy drove. ``campaign_leverage = subsidy_driven_fen / subsidy_fen``.

How the campaigns plug-in feeds the subsidy columns: it does not call zones.
It pays its part of an order as legs that (1) credit the merchant's wallet,
(2) carry the order's reference as ``batch_id`` and (3) debit a ``campaign``
(budget) or ``restricted`` (red-packet) account — which is what
``backend.payments.funding`` does for every ``SubsidyLeg`` a provider
returns. The figures then come from the ledger like every other figure, so
the live update and the rebuild agree. Until campaigns exist they are 0.

Keeping up to date: settled payments are counted in batches, off the
payment path. The ``payment_settled`` receiver appends the order id to a
Redis list and, when no batch is already due, schedules ``apply_pending``
``BATCH_DELAY`` ahead — one Redis round trip per payment, at most about one
job a second however busy the merchants are (inline at once on the embedded
default, so figures are live there too). ``apply_pending`` pops up to ``BATCH`` ids at a time and counts them
in one transaction with a handful of multi-row statements. A payment is
counted once — ``zone_kpi_applied`` records its transfer in the same
transaction as the increments, so a job run twice, an id listed twice, or a
sweep that finds it again changes nothing — and the aggregates move by
atomic UPSERTs (``x = x + :d``), in a fixed order of tables and keys so
concurrent batches wait for each other instead of deadlocking; "first payer
of the day" and "first payment at this merchant today" are unique keys,
never read-modify-write. Ids lost with Redis (a restart) or with a worker
killed mid-batch are found by ``sweep`` (every minute, from ``backend.cron``):
orders paid in the last ``SWEEP_WINDOW`` whose payment is not yet counted.
Refunds are rare and are counted one job per refunded order
(``apply_refunds``). A dashboard reads days (``zone_kpi_daily``), never
transactions.

Rebuilding: ``rebuild(day_from, day_to, zone_ids)`` (``flask zones
rebuild-kpis``) recomputes the same tables from the ledger (transfers, with
orders and refunds saying which merchant and payer) in one transaction that
first locks the aggregate tables against the live updates, and must agree
exactly with them. It reads the window only: payments by ``orders.paid_at``
and refunds by ``refunds.created_at`` (both indexed, and each the instant of
its transfer, written with it), the window's payments once, and each payer
of the window once (by ``orders.payer_user_id``) to tell a first payment
ever. It is also what repairs a receiver that failed (receivers are logged
and swallowed, never allowed to undo a payment) and what follows a merchant
into its new zone when an outline changes.
"""


from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select

from backend.clock import as_utc, local_zone
from backend.ledger.models import Account, AccountKind, Transfer
from backend.merchants.models import Merchant
from backend.payments.models import Order, Refund
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
        select(func.coalesce(func.sum(T.c.amount_fen), 0))
        .select_from(T.join(A, A.c.id == T.c.debit_account_id))
        .where(T.c.batch_id == reference, T.c.credit_account_id == merchant_account_id, T.c.reverses_id.is_(None),
               A.c.kind.in_(SUBSIDY_ACCOUNT_KINDS))
    )
