"""How the core tells plug-ins what happened, without importing them.

Signals (sent after the transaction commits; a failing receiver is logged and
never undoes the request):

- ``payment_settled(order_id, merchant_id, amount_fen, payer_user_id, transfer_id, subsidy_fen)``
- ``refund_settled(order_id, amount_fen)``
- ``merchant_approved(merchant_id)``

Registration: a plug-in's ``init_app`` hands the core what it contributes,
so that neither ``create_app``'s callers, ``backend/cron.py`` nor the CLI ever
import a plug-in:

- seeders that ``flask seed`` runs after the core's own reference and demo
  data (``register_seeder``);
- periodic jobs (``register_periodic``), which ``rq cron backend.cron``
  schedules in production and ``flask serve`` runs in-process on the embedded
  default (``backend/scheduler.py``);
- ``flask`` command groups (``register_cli``);
- invariants that ``flask ledger verify`` checks after conservation of money
  (``register_ledger_check``);
- sections of the periodic scenario report (``register_report_section``): the
  report (zones/reports.py) adds each one's table to its PDF and CSV;
- figures of a plug-in in the zone KPIs (``register_zone_figures``), e.g. transit's
  taps at the stops in a zone: the KPIs carry them under ``plugins`` and the
  periodic report prints their table;
- the locator of points in zones (``register_zone_locator``, the zones plug-in's):
  ``zone_at(lat, lon)`` lets another plug-in ask which zone a place lies in
  without importing zones.

Everything registered lives in ``app.extensions`` of the app it was
registered on, so two apps (tests) never see each other's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import click
from blinker import Namespace
from croniter import croniter

signals = Namespace()
payment_settled = signals.signal("payment-settled")
refund_settled = signals.signal("refund-settled")
merchant_approved = signals.signal("merchant-approved")

log = logging.getLogger(__name__)


def announce(signal, **data) -> None:
    """Send ``signal`` with ``data``; a failing receiver is logged, not raised."""
    for receiver in list(signal.receivers_for(None)):
        try:
            receiver(None, **data)
        except Exception:  # noqa: BLE001 - a plug-in must not undo a settled payment
            log.exception("receiver of %s failed", signal.name)


def register_seeder(app, kind: str, func) -> None:
    """Register ``func`` to run at seeding; ``kind`` is "reference" (no args) or "demo" (users by phone)."""
    app.extensions.setdefault("suiyuan.seeders", {"reference": [], "demo": []})[kind].append(func)


def seeders(app, kind: str) -> list:
    """Return the seeders of ``kind`` registered on ``app``."""
    return app.extensions.get("suiyuan.seeders", {}).get(kind, [])


# ---------------------------------------------------------------- periodic jobs

PERIODIC_KEY = "suiyuan.periodic"


@dataclass(frozen=True)
class PeriodicJob:
    """One periodic job: ``func`` (a module-level job, safe to run twice) every ``interval`` seconds or
    on the ``cron`` schedule (five fields, UTC), on RQ queue ``queue``."""

    func: Callable
    interval: int | None
    cron: str | None
    queue: str = "default"

    @property
    def name(self) -> str:
        """The job's import path, as RQ names it (``module.function``)."""
        return f"{self.func.__module__}.{self.func.__qualname__}"


def register_periodic(app, func, *, interval: int | None = None, cron: str | None = None,
                      queue: str = "default") -> None:
    """Have ``func`` run every ``interval`` seconds or on the ``cron`` schedule (UTC), on ``queue``.

    Give exactly one of ``interval`` and ``cron``. ``func`` must be a
    module-level function (RQ enqueues it by import path). Registering the
    same job again is a no-op. Raises ``ValueError`` on a bad schedule or a
    function RQ could not import.
    """
    if (interval is None) == (cron is None):
        raise ValueError("give exactly one of interval and cron")
    if interval is not None and (isinstance(interval, bool) or not isinstance(interval, int) or interval <= 0):
        raise ValueError(f"interval must be a positive number of seconds, not {interval!r}")
    if cron is not None and not croniter.is_valid(cron):
        raise ValueError(f"not a cron schedule: {cron!r}")
    if not callable(func) or "<" in getattr(func, "__qualname__", "<"):
        raise ValueError(f"{func!r} is not a module-level function; RQ enqueues jobs by import path")
    job = PeriodicJob(func, interval, cron, queue)
    jobs = app.extensions.setdefault(PERIODIC_KEY, [])
    if job not in jobs:
        jobs.append(job)


def periodic_jobs(app) -> list[PeriodicJob]:
    """Return the periodic jobs registered on ``app`` (core's and plug-ins'), in registration order."""
    return list(app.extensions.get(PERIODIC_KEY, []))


# ---------------------------------------------------------------- CLI groups


def register_cli(app, group: click.Command) -> None:
    """Add ``group`` (a click group or command) to ``flask``; raise ``ValueError`` if another command
    already has its name (two plug-ins must not silently replace each other's commands)."""
    existing = app.cli.commands.get(group.name)
    if existing is not None and existing is not group:
        raise ValueError(f"a flask command named {group.name!r} is already registered")
    app.cli.add_command(group)


# ---------------------------------------------------------------- ledger invariants

LEDGER_CHECKS_KEY = "suiyuan.ledger_checks"


def register_ledger_check(app, name: str, func: Callable[[], list[str]]) -> None:
    """Have ``flask ledger verify`` also run ``func()`` (in an app context, after the core's
    conservation checks); it returns its violations as strings, empty when sound. Raises
    ``ValueError`` if ``name`` is taken by another check."""
    checks = app.extensions.setdefault(LEDGER_CHECKS_KEY, {})
    if checks.get(name, func) is not func:
        raise ValueError(f"a ledger check named {name!r} is already registered")
    checks[name] = func


def ledger_checks(app) -> dict[str, Callable[[], list[str]]]:
    """Return the plug-ins' ledger checks registered on ``app``: name → function."""
    return dict(app.extensions.get(LEDGER_CHECKS_KEY, {}))


def run_ledger_checks(app) -> list[str]:
    """Run every registered ledger check; return their violations, each prefixed with the check's name.

    A check that raises is itself a violation (``verify`` must never pass
    because a check could not run).
    """
    from backend.extensions import db

    problems: list[str] = []
    for name, func in ledger_checks(app).items():
        try:
            problems += [f"{name}: {p}" for p in func()]
        except Exception as exc:  # noqa: BLE001 - reported as a violation, never a pass
            log.exception("ledger check %s failed", name)
            problems.append(f"{name}: the check failed to run: {exc!r}")
        finally:
            db.session.rollback()
    return problems


# ---------------------------------------------------------------- sections of the periodic report

REPORT_SECTIONS_KEY = "suiyuan.report_sections"


def register_report_section(app, name: str, func: Callable) -> None:
    """Have the periodic scenario report include ``func(zone_id, day_from, day_to)``'s section (called in an
    app context while the report is built). The section is a JSON-able dict: ``key``, ``title_zh``,
    ``title_en``, ``note_zh``, ``note_en``, ``columns`` (``[{"key", "zh", "en", "unit"}]``, the first one
    naming the row) and ``rows`` (lists of values in that order; money in fen where ``unit`` is ``fen``).
    Raises ``ValueError`` if ``name`` is taken by another section."""
    sections = app.extensions.setdefault(REPORT_SECTIONS_KEY, {})
    if sections.get(name, func) is not func:
        raise ValueError(f"a report section named {name!r} is already registered")
    sections[name] = func


def report_sections(app) -> dict[str, Callable]:
    """The registered report sections by name, in registration order."""
    return dict(app.extensions.get(REPORT_SECTIONS_KEY, {}))



# ---------------------------------------------------------------- plug-ins' figures in the zone KPIs

ZONE_FIGURES_KEY = "suiyuan.zone_figures"
ZONE_LOCATOR_KEY = "suiyuan.zone_locator"


def register_zone_figures(app, name: str, func: Callable) -> None:
    """Have the zone KPIs (and so the periodic report) include ``func(zone_id, day_from, day_to, totals)``'s
    figures, called in an app context; ``totals`` are the zone's own totals over the period (read only).

    ``func`` returns a JSON-able dict: ``figures`` (what the KPIs show under ``plugins[name]``) and
    ``section`` (a table for the report, in ``register_report_section``'s format). Raises ``ValueError``
    if ``name`` is taken by another function."""
    figures = app.extensions.setdefault(ZONE_FIGURES_KEY, {})
    if figures.get(name, func) is not func:
        raise ValueError(f"zone figures named {name!r} are already registered")
    figures[name] = func


def zone_figures(app) -> dict[str, Callable]:
    """The plug-ins' zone figures by name, in registration order."""
    return dict(app.extensions.get(ZONE_FIGURES_KEY, {}))


def register_zone_locator(app, func: Callable[[float, float], int | None]) -> None:
    """Register ``func(lat, lon)`` → the id of the zone the point lies in, or ``None`` (one per app)."""
    app.extensions[ZONE_LOCATOR_KEY] = func


def zone_at(lat: float | None, lon: float | None) -> int | None:
    """The zone the point lies in, by the registered locator (in an app context); ``None`` without a point,
    without a locator (no zones plug-in) or outside every zone."""
    from flask import current_app

    func = current_app.extensions.get(ZONE_LOCATOR_KEY)
    if func is None or lat is None or lon is None:
        return None
    return func(lat, lon)
