"""Paying organisations: registration by the pilot office, members, top-up, who sees what."""

from __future__ import annotations

from backend.auth.models import Role
from backend.ledger import service as ledger
from tests.payouts.helpers import API, add_member, make_org, uscc


def test_pilot_office_registers_an_organisation_with_a_corporate_wallet(world):
    body = world.get(f"/organisations/{world.org_id}", world.pilot).get_json()
    assert body["kind"] == "department" and body["member_unit"] is True and body["district"] == "越秀区"
    assert body["bank_code"] == "ICBC" and body["bank_account_masked"].endswith("3446")
    assert body["balance_fen"] == 0 and body["my_role"] is None and len(body["wallet_number"]) == 16
    assert world.get(f"/organisations/{world.org_id}", world.officer).get_json()["my_role"] == "officer"
    resp = world.client.patch(f"{API}/organisations/{world.org_id}", json={"member_unit": False},
                              headers=world.pilot.auth)
    assert resp.status_code == 200 and resp.get_json()["member_unit"] is False
    members = world.get(f"/organisations/{world.org_id}/members", world.approver).get_json()["items"]
    assert [(m["display_name"], m["role"]) for m in members] == [("张会计", "officer"), ("王处长", "approver")]


def test_registration_refusals(world):
    pilot, client = world.pilot, world.client
    code = uscc()
    make_org(client, world.factory, pilot, uscc=code)
    resp = client.post(f"{API}/organisations", headers=pilot.auth, json={
        "name": "重复", "kind": "soe", "uscc": code, "bank_code": "ICBC", "bank_account_number": "6222020200112233446"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "uscc_taken"
    resp = client.post(f"{API}/organisations", headers=pilot.auth, json={
        "name": "坏账号", "kind": "soe", "uscc": uscc(), "bank_code": "ICBC",
        "bank_account_number": "6222020200112233447"})
    assert resp.status_code == 422 and resp.get_json()["errors"][0]["field"] == "bank_account_number"
    # Only the pilot office registers organisations and members.
    resp = client.post(f"{API}/organisations", headers=world.officer.auth, json={})
    assert resp.status_code == 403
    consumer = world.factory.consumer()
    resp = client.post(f"{API}/organisations/{world.org_id}/members", headers=pilot.auth,
                       json={"phone": consumer.phone, "role": "officer"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "not_org_staff"
    resp = client.post(f"{API}/organisations/{world.org_id}/members", headers=pilot.auth,
                       json={"phone": world.officer.phone, "role": "approver"})
    assert resp.status_code == 409 and resp.get_json()["code"] == "already_member"


def test_top_up_from_the_organisations_bank_account_is_idempotent(world):
    first = world.post(f"/organisations/{world.org_id}/topup", world.officer, {"amount_fen": 5_000_000}, key="k1")
    again = world.post(f"/organisations/{world.org_id}/topup", world.officer, {"amount_fen": 5_000_000}, key="k1")
    assert first.status_code == again.status_code == 201 and first.get_json() == again.get_json()
    assert world.org_balance() == 5_000_000
    other = world.post(f"/organisations/{world.org_id}/topup", world.officer, {"amount_fen": 1}, key="k1")
    assert other.status_code == 409 and other.get_json()["code"] == "idempotency_key_reused"
    missing = world.post(f"/organisations/{world.org_id}/topup", world.officer, {"amount_fen": 1}, key=None)
    assert missing.status_code == 422
    assert ledger.verify() == []


def test_other_organisations_and_consumers_see_nothing(world):
    other_org = make_org(world.client, world.factory, world.pilot, name="南沙区人社局")
    stranger = add_member(world.client, world.factory, world.pilot, other_org, "approver", "外单位")
    consumer = world.factory.consumer()
    assert world.get(f"/organisations/{world.org_id}", stranger).status_code == 404
    assert world.get(f"/organisations/{world.org_id}/members", stranger).status_code == 404
    assert world.get(f"/organisations/{world.org_id}", consumer).status_code == 403
    assert [o["id"] for o in world.get("/organisations", stranger).get_json()["items"]] == [other_org]
    assert len(world.get("/organisations", world.pilot).get_json()["items"]) == 2
    resp = world.post(f"/organisations/{world.org_id}/topup", stranger, {"amount_fen": 100})
    assert resp.status_code == 404 and world.org_balance() == 0


def test_openapi_documents_every_payout_operation_with_its_errors(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    ops = [(p, m, op) for p, item in spec["paths"].items() if p.startswith("/api/v1/payouts")
           for m, op in item.items() if m in {"get", "post", "put", "patch", "delete"}]
    assert len(ops) >= 15
    for path, method, op in ops:
        statuses = {int(s) for s in op["responses"] if s.isdigit()}
        assert any(s < 300 for s in statuses), (path, method)
        assert {401, 403} <= statuses, (path, method)
        for s in statuses - {200, 201, 204}:
            response = op["responses"][str(s)]
            if "$ref" in response:  # the answers every operation shares (400, 404, 413, 415, 503)
                response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
            assert "application/problem+json" in response["content"], (path, method, s)
        assert op["x-roles"] and op["security"] == [{"bearerAuth": []}]
    upload = spec["paths"]["/api/v1/payouts/organisations/{org_id}/batches"]["post"]
    schema_ref = upload["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(spec["components"]["schemas"][schema_ref]["properties"]) == {"reference", "title", "file"}
    approve = spec["paths"]["/api/v1/payouts/batches/{batch_id}/approve"]["post"]
    assert any(p["name"] == "Idempotency-Key" and p["required"] for p in approve["parameters"])
    assert Role.ORG_STAFF in approve["x-roles"]
