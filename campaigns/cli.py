"""``flask campaigns …``: gate rebuild, draws, expiry, settlement, funders."""

from __future__ import annotations

import json
import sys

import click
from flask.cli import AppGroup

cli = AppGroup("campaigns", help="Promotions: claim gates, lottery draws, settlement.")


@cli.command("rebuild-gate")
@click.argument("campaign_id", type=int)
def rebuild_gate(campaign_id):
    """Rebuild a campaign's claim gate in Redis from PostgreSQL (after a flush, restart or crash)."""
    from campaigns.tasks import rebuild_gate_job

    installed = rebuild_gate_job(campaign_id)
    click.echo(f"gate of campaign {campaign_id} {'rebuilt' if installed else 'was being rebuilt by another worker'}")


@cli.command("draw")
@click.argument("campaign_id", type=int)
def draw(campaign_id):
    """Run a lottery's draw now (if registration has closed)."""
    from campaigns.tasks import draw_job

    click.echo(f"campaign {campaign_id}: {draw_job(campaign_id)}")


@cli.command("verify-draw")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, allow_dash=True))
def verify_draw(path):
    """Recompute a published draw (the JSON of GET /campaigns/{id}/draw); exit 1 if it does not hold."""
    from campaigns.verify_draw import main

    sys.exit(main([path]))


@cli.command("reclaim")
@click.argument("campaign_id", type=int)
def reclaim(campaign_id):
    """Reclaim unspent red packets of a campaign past its spend deadline."""
    from campaigns.tasks import reclaim_job

    click.echo(f"reclaimed {reclaim_job(campaign_id)} fen")


@cli.command("settle")
@click.argument("campaign_id", type=int)
def settle(campaign_id):
    """Settle a campaign past its spend deadline and print its settlement report."""
    from campaigns import settlement
    from campaigns.tasks import settle_job

    click.echo(f"returned {settle_job(campaign_id)} fen to the funder")
    click.echo(json.dumps(settlement.report(campaign_id), ensure_ascii=False, indent=2))


@cli.command("scan")
def scan():
    """Run the minute scan once (what ``rq cron backend.cron`` runs every minute)."""
    from campaigns.tasks import scan_campaigns

    click.echo(json.dumps(scan_campaigns()))


@cli.command("grant")
@click.argument("campaign_id", type=int)
@click.argument("phone")
def grant(campaign_id, phone):
    """Grant one packet or coupon of a live campaign to the consumer with PHONE (through the same
    gate, caps and eligibility as a claim)."""
    from sqlalchemy import select

    from backend.auth.models import User
    from backend.auth.service import normalize_phone
    from backend.extensions import db
    from campaigns.service import claim

    user_id = db.session.execute(select(User.id).where(User.phone == normalize_phone(phone))).scalar_one()
    body, _ = claim(user_id, campaign_id, None, via="grant")
    click.echo(json.dumps(body, ensure_ascii=False))


@cli.command("add-funder")
@click.option("--phone", required=True, help="Phone of the consumer whose wallet pays budgets")
@click.option("--name", required=True)
@click.option("--zone", "zone_code", default=None, help="Only for campaigns in this zone (code)")
def add_funder(phone, name, zone_code):
    """Allow a wallet to fund promotions."""
    from sqlalchemy import select

    from backend.extensions import db
    from campaigns.service import add_funder as add
    from zones.models import Zone

    zone_id = db.session.execute(select(Zone.id).where(Zone.code == zone_code)).scalar_one() if zone_code else None
    f = add(name, phone, zone_id)
    click.echo(f"funder {f.id}: {f.name}")
