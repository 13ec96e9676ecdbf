"""Suiyuan backend: ``create_app`` wires the Flask app; it never migrates, seeds or calls out."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from backend import config as config_module


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Return a configured app: environment settings overridden by ``config``."""
    app = Flask(__name__, instance_path=str(config_module.INSTANCE_DIR), static_folder=None)
    app.config.update(config_module.from_env())
    if config:
        app.config.update(config)
        if "DATABASE_URL" in config:
            app.config["SQLALCHEMY_DATABASE_URI"] = config_module.database_url(config["DATABASE_URL"])

    from backend import preflight

    if not preflight.running_doctor():  # the doctor builds the app to report what is wrong with it
        preflight.enforce(app.config)  # outside the embedded default: a real secret and a reachable Redis

    from backend import bodies, errors, models  # noqa: F401  (models registers every table on the metadata)
    from backend.extensions import api, db, init_redis, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(__file__).parent / "migrations"), render_as_batch=True)
    init_redis(app)
    api.init_app(app, spec_kwargs={
        "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
    })
    # After flask-smorest's own handler, so problem+json (and Allow on 405) wins.
    errors.register(app)
    bodies.init_app(app)  # JSON bodies are measured (size, depth) before anything parses them

    from backend.auth.staff_views import blp as staff_blp
    from backend.auth.views import blp as auth_blp
    from backend.banks.views import blp as banks_blp
    from backend.console import blp as console_blp
    from backend.health import blp as health_blp
    from backend.merchants.views import blp as merchants_blp
    from backend.payments.views import blp as payments_blp
    from backend.wallets.views import blp as wallets_blp

    for blp in (health_blp, auth_blp, staff_blp, wallets_blp, banks_blp, merchants_blp, payments_blp):
        api.register_blueprint(blp)
    app.register_blueprint(console_blp)  # the web console (static/), at / and /console/

    from backend import jobs

    jobs.init_app(app)  # the core's periodic jobs; plug-ins register theirs in init_app

    # Plug-ins: the only place backend imports them.
    import campaigns
    import payouts
    import prepaid
    import protection
    import transit
    import zones

    zones.init_app(app, api)
    campaigns.init_app(app, api)
    payouts.init_app(app, api)
    prepaid.init_app(app, api)
    transit.init_app(app, api)
    protection.init_app(app, api)

    from backend import apidocs, cli

    apidocs.init_app(app, api)
    cli.register(app)
    app.json.sort_keys = False
    return app
