"""The pilot office's staff accounts (/staff): created, found, disabled and re-enabled, given a new password;
each change audited, and a disabled account's tokens refused on the next request."""

from __future__ import annotations

import redis
from sqlalchemy import select

from backend.auth.models import Role, User
from backend.extensions import db
from protection.models import AuditEntry
from tests.backend.helpers import assert_problem, bearer, url
from tests.factories import PASSWORD

NEW_PASSWORD = "Fresh2026pass"


def login(client, phone: str, password: str = PASSWORD):
    return client.post(url("/auth/login"), json={"phone": phone, "password": password})


def audit_lines(target_id: int) -> list[tuple[str, int, str | None]]:
    rows = db.session.execute(select(AuditEntry).where(AuditEntry.target_kind == "user",
                                                       AuditEntry.target_id == str(target_id))
                              .order_by(AuditEntry.id)).scalars()
    return [(r.action, r.actor_user_id, r.reason) for r in rows]


def create(client, pilot, **body):
    body = {"phone": "13700001111", "display_name": "陈审核", "role": "bank_reviewer", "bank_code": "boc",
            "password": PASSWORD, **body}
    return client.post(url("/staff"), headers=pilot.auth, json=body)


def test_the_pilot_office_creates_a_bank_reviewer_who_can_log_in_and_the_creation_is_audited(client, factory):
    pilot = factory.user(Role.PILOT_ADMIN)
    resp = create(client, pilot)
    assert resp.status_code == 201, resp.get_json()
    made = resp.get_json()
    assert made["role"] == "bank_reviewer" and made["bank"]["code"] == "BOC" and made["is_active"] is True
    assert made["display_name"] == "陈审核" and made["phone"] == "13700001111"
    body = login(client, "13700001111").get_json()
    assert body["user"]["role"] == "bank_reviewer" and body["user"]["bank_id"] is not None
    assert audit_lines(made["id"]) == [("staff_create", pilot.id, "bank_reviewer 陈审核")]
    # A zone manager has no bank; a pilot-office colleague neither.
    assert create(client, pilot, phone="13700001112", role="zone_manager", bank_code=None).status_code == 201


def test_bad_staff_requests_are_refused_and_nothing_is_created(client, factory):
    pilot, manager = factory.user(Role.PILOT_ADMIN), factory.user(Role.ZONE_MANAGER)
    before = db.session.execute(select(db.func.count(User.id))).scalar_one()
    assert_problem(create(client, manager), 403, "role_forbidden")
    assert_problem(create(client, pilot, bank_code=None), 422, "bank_required", field="bank_code")
    assert_problem(create(client, pilot, bank_code="NOPE"), 422, field="bank_code")
    assert_problem(create(client, pilot, role="zone_manager"), 422, field="bank_code")  # a bank for a manager
    assert_problem(create(client, pilot, role="consumer"), 422, field="role")  # not made here
    assert_problem(create(client, pilot, password="short"), 422, field="password")
    assert_problem(create(client, pilot, display_name="   "), 422, field="display_name")
    assert_problem(create(client, pilot, phone=manager.phone), 409, "phone_taken", field="phone")
    db.session.rollback()
    assert db.session.execute(select(db.func.count(User.id))).scalar_one() == before


def test_a_disabled_account_is_refused_at_once_and_can_be_enabled_again(client, factory):
    pilot, reviewer = factory.user(Role.PILOT_ADMIN), factory.user(Role.BANK_REVIEWER)
    token = login(client, reviewer.phone).get_json()["token"]
    assert client.get(url("/me"), headers=bearer(token)).status_code == 200

    # A reason is required, and refusing it changes nothing.
    assert_problem(client.post(url(f"/staff/{reviewer.id}/disable"), headers=pilot.auth, json={"reason": "x"}),
                   422, "reason_required", field="reason")
    assert client.get(url("/me"), headers=bearer(token)).status_code == 200

    resp = client.post(url(f"/staff/{reviewer.id}/disable"), headers=pilot.auth, json={"reason": "已调离审核岗位"})
    assert resp.status_code == 200 and resp.get_json()["is_active"] is False
    assert_problem(client.get(url("/me"), headers=bearer(token)), 401, "token_revoked")
    assert_problem(login(client, reviewer.phone), 401, "bad_credentials")
    assert_problem(client.post(url(f"/staff/{reviewer.id}/disable"), headers=pilot.auth,
                               json={"reason": "已调离审核岗位"}), 409, "already_disabled")

    resp = client.post(url(f"/staff/{reviewer.id}/enable"), headers=pilot.auth, json={"reason": "回到审核岗位"})
    assert resp.status_code == 200 and resp.get_json()["is_active"] is True
    assert_problem(client.get(url("/me"), headers=bearer(token)), 401, "token_revoked")  # old sessions stay ended
    assert login(client, reviewer.phone).status_code == 200
    assert [a for a, _, _ in audit_lines(reviewer.id)] == ["staff_disable", "staff_enable"]


def test_nobody_disables_their_own_account_and_consumers_are_not_staff(client, factory):
    pilot, consumer = factory.user(Role.PILOT_ADMIN), factory.user(Role.CONSUMER)
    assert_problem(client.post(url(f"/staff/{pilot.id}/disable"), headers=pilot.auth, json={"reason": "离职交接"}),
                   409, "own_account")
    assert_problem(client.post(url(f"/staff/{consumer.id}/disable"), headers=pilot.auth,
                               json={"reason": "不是工作人员"}), 404, "staff_not_found")
    assert client.get(url("/me"), headers=pilot.auth).status_code == 200


def test_a_new_password_ends_every_session_of_the_old_one(client, factory):
    pilot, manager = factory.user(Role.PILOT_ADMIN), factory.user(Role.ZONE_MANAGER)
    token = login(client, manager.phone).get_json()["token"]
    resp = client.post(url(f"/staff/{manager.id}/password"), headers=pilot.auth,
                       json={"password": NEW_PASSWORD, "reason": "本人忘记密码，当面核实身份"})
    assert resp.status_code == 200, resp.get_json()
    assert_problem(client.get(url("/me"), headers=bearer(token)), 401, "token_revoked")
    assert_problem(login(client, manager.phone), 401, "bad_credentials")
    assert login(client, manager.phone, NEW_PASSWORD).status_code == 200
    assert audit_lines(manager.id)[-1][0] == "staff_password"


def test_with_redis_down_disabling_changes_nothing(app, client, factory):
    pilot, manager = factory.user(Role.PILOT_ADMIN), factory.user(Role.ZONE_MANAGER)
    saved = app.extensions["redis"]
    pilot_token = pilot.auth
    app.extensions["redis"] = redis.Redis(port=1, socket_connect_timeout=0.2)
    try:
        resp = client.post(url(f"/staff/{manager.id}/disable"), headers=pilot_token, json={"reason": "已调离岗位"})
        assert resp.status_code == 503
    finally:
        app.extensions["redis"] = saved
    db.session.expire_all()
    assert db.session.get(User, manager.id).is_active
    assert audit_lines(manager.id) == []


def test_the_staff_list_filters_by_role_state_and_name(client, factory):
    pilot = factory.user(Role.PILOT_ADMIN)
    a = factory.user(Role.BANK_REVIEWER, display_name="王审核")
    b = factory.user(Role.ZONE_MANAGER, display_name="李管理")
    factory.user(Role.CONSUMER, display_name="王消费")  # never listed
    client.post(url(f"/staff/{b.id}/disable"), headers=pilot.auth, json={"reason": "已调离岗位"})

    def ids(**query):
        resp = client.get(url("/staff"), headers=pilot.auth, query_string=query)
        assert resp.status_code == 200, resp.get_json()
        return [item["id"] for item in resp.get_json()["items"]]

    assert a.id in ids(role="bank_reviewer") and b.id not in ids(role="bank_reviewer")
    assert ids(q="王") == [a.id]
    assert b.id in ids(active="false") and a.id not in ids(active="false")
    assert ids(q=a.phone[-6:]) == [a.id]
    first = client.get(url("/staff"), headers=pilot.auth, query_string={"limit": 1}).get_json()
    assert len(first["items"]) == 1 and first["next_before"] == first["items"][0]["id"]
    assert_problem(client.get(url("/staff"), headers=b.auth), 401)  # disabled: its token is refused
