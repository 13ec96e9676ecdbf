"""Fixtures of the zones tests: zone ids by code, the pilot office, zone managers."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from backend.auth.models import Role
from backend.extensions import db
from zones.models import Zone, ZoneManager


@pytest.fixture
def zone_ids(app) -> dict[str, int]:
    """The seeded zones' ids by code."""
    return dict(db.session.execute(select(Zone.code, Zone.id)).all())


@pytest.fixture
def admin(factory):
    """A pilot-office account."""
    return factory.user(Role.PILOT_ADMIN)


@pytest.fixture
def manager_of(factory, zone_ids):
    """Return a new zone manager assigned to the zones given by code."""

    def make(*codes: str):
        person = factory.user(Role.ZONE_MANAGER)
        for code in codes:
            db.session.add(ZoneManager(user_id=person.id, zone_id=zone_ids[code]))
        db.session.commit()
        return person

    return make
