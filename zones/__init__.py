"""Demonstration zones: a plug-in of the backend (registered in ``create_app``)."""


def init_app(app, api) -> None:
    """Register the zones blueprint on ``api``."""
    from backend.hooks import register_seeder
    from zones import (
        models,  # noqa: F401  (registers the tables)
        seed,
    )
    from zones.views import blp

    api.register_blueprint(blp)
    register_seeder(app, "reference", seed.seed_reference)
    register_seeder(app, "demo", seed.seed_demo)
