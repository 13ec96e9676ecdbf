"""Demonstration zones: a plug-in of the backend (registered in ``create_app``)."""


def init_app(app, api) -> None:
    """Register the zones blueprint on ``api``."""
    from zones import models  # noqa: F401  (registers the tables)
    from zones.views import blp

    api.register_blueprint(blp)
