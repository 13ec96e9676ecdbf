"""``flask zones …``: rebuild the KPI aggregates from the ledger, place merchants, build reports."""

from __future__ import annotations

from datetime import date

import click
from flask.cli import AppGroup
from sqlalchemy import select

zones_cli = AppGroup("zones", help="Demonstration zones: KPIs, placement, reports.")


def _zone_ids(codes: tuple[str, ...]) -> list[int] | None:
    from backend.extensions import db
    from zones.models import Zone

    if not codes:
        return None
    found = dict(db.session.execute(select(Zone.code, Zone.id).where(Zone.code.in_(codes))).all())
    unknown = sorted(set(codes) - set(found))
    if unknown:
        raise click.BadParameter(f"unknown zone code(s): {', '.join(unknown)}", param_hint="--zone")
    return sorted(found.values())


@zones_cli.command("rebuild-kpis")
@click.option("--from", "day_from", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="First local day (default: the day of the first payment)")
@click.option("--to", "day_to", type=click.DateTime(["%Y-%m-%d"]), default=None, help="Last local day (default: today)")
@click.option("--zone", "codes", multiple=True, help="Only this zone (by code); repeatable")
def rebuild_kpis(day_from, day_to, codes):
    """Recompute the zones' daily KPI tables from the ledger (replaces what the live updates wrote)."""
    from backend.clock import local_today
    from zones import rebuild

    start: date = day_from.date() if day_from else (rebuild.first_activity_day() or local_today())
    end: date = day_to.date() if day_to else local_today()
    if start > end:
        raise click.BadParameter("--from is after --to", param_hint="--from")
    done = rebuild.rebuild(start, end, _zone_ids(codes))
    click.echo(f"rebuilt {done['from']}..{done['to']}: {done['zone_days']} zone-days, "
               f"{done['merchant_days']} merchant-days")


@zones_cli.command("place-merchants")
def place_merchants():
    """Place every approved merchant that has no zone placement yet."""
    from backend.extensions import db
    from zones import placement

    n = placement.place_unplaced()
    db.session.commit()
    click.echo(f"placed {n} merchant(s)")


@zones_cli.command("build-reports")
@click.option("--period", type=click.Choice(["weekly", "monthly"]), required=True)
@click.option("--start", type=click.DateTime(["%Y-%m-%d"]), default=None,
              help="Monday (weekly) or 1st (monthly); default: the last finished period")
def build_reports(period, start):
    """Build every zone's periodic scenario report through the job queue."""
    from backend.jobs import enqueue
    from zones.reports import build_periodic_reports

    job = enqueue(build_periodic_reports, period, start.date().isoformat() if start else None)
    click.echo(f"enqueued {period} reports (job {job.id})")
