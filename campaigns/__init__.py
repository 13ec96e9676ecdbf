"""Red packets, lotteries, coupons and the claim gate: a plug-in of the backend (registered in ``create_app``).

Import nothing heavy here: ``python -m campaigns.verify_draw`` must run without Flask.
"""


def init_app(app, api) -> None:
    """Register the blueprint, the payments' funding provider, the demo seeder and ``flask campaigns``."""
    from backend.hooks import register_seeder
    from backend.payments import funding
    from campaigns import (
        models,  # noqa: F401  (registers the tables)
        seed,
    )
    from campaigns.cli import cli
    from campaigns.funding import CampaignFunding
    from campaigns.views import blp

    api.register_blueprint(blp)
    funding.register(app, CampaignFunding())
    register_seeder(app, "demo", seed.seed_demo)
    app.cli.add_command(cli)
