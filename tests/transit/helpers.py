"""Drive the transit API as the consumer app and the validators would."""

from __future__ import annotations

import itertools
import uuid

from backend.auth.models import Role
from suiyuan_protocol.transit.card import HardCard
from suiyuan_protocol.transit.records import CardCertificate, LoadAuthorisation, b64, unb64
from suiyuan_protocol.transit.terminal import Terminal

_ids = itertools.count(1)


def key_header(person) -> dict:
    return {**person.auth, "Idempotency-Key": uuid.uuid4().hex}


class Transit:
    """One test's transit world: an operator per kind, terminals, cards."""

    def __init__(self, client, factory, tmp_path):
        self.client, self.factory, self.tmp_path = client, factory, tmp_path
        self.admin = factory.user(Role.PILOT_ADMIN)
        self.operators: dict[str, dict] = {}
        self.keys: dict[str, str] = {}

    def operator(self, name="广州地铁", kind="metro") -> dict:
        if name not in self.operators:
            r = self.client.post("/api/v1/transit/operators", json={"name": name, "kind": kind},
                                 headers=self.admin.auth)
            assert r.status_code == 201, r.json
            self.operators[name] = r.json
        return self.operators[name]

    def issuer_keys(self) -> dict[str, bytes]:
        r = self.client.get("/api/v1/transit/issuer-keys")
        return {kid: unb64(v) for kid, v in r.json["keys"].items()}

    def terminal(self, tid: str, mode="bus", place="B1", operator="广州公交", kind="bus",
                 location: tuple[float, float] | None = None) -> Terminal:
        op = self.operator(operator, kind)
        where = {"latitude": location[0], "longitude": location[1]} if location else {}
        r = self.client.post(f"/api/v1/transit/operators/{op['id']}/terminals",
                             json={"terminal_id": tid, "mode": mode, "place": place, **where},
                             headers=self.admin.auth)
        assert r.status_code == 201, r.json
        self.keys[tid] = r.json["key"]
        return Terminal(tid, mode, place, self.tmp_path / f"{tid}.sqlite", issuer_keys=self.issuer_keys())

    def issue(self, person, ytc_number: str | None = None) -> HardCard:
        card = HardCard.create(f"HW{next(_ids):016X}")
        r = self.client.post("/api/v1/transit/cards", json={"card_id": card.card_id,
                                                            "public_key": b64(card.public_key),
                                                            "ytc_number": ytc_number}, headers=person.auth)
        assert r.status_code == 201, r.json
        card.install(CardCertificate.from_json(r.json["certificate"]),
                     {k: unb64(v) for k, v in r.json["issuer_keys"].items()})
        return card

    def load(self, person, card: HardCard, amount_fen: int):
        r = self.client.post(f"/api/v1/transit/cards/{card.card_id}/loads", json={"amount_fen": amount_fen},
                             headers=key_header(person))
        if r.status_code == 201:
            card.apply_load(LoadAuthorisation.from_json(r.json["authorisation"]))
        return r

    def upload(self, batch: dict, key: str | None = None):
        return self.client.post("/api/v1/transit/batches", json=batch,
                                headers={"X-Terminal-Key": key or self.keys[batch["terminal_id"]]})

    def server_card(self, person, card: HardCard) -> dict:
        r = self.client.get(f"/api/v1/transit/cards/{card.card_id}", headers=person.auth)
        assert r.status_code == 200, r.json
        return r.json

    def verify_ledger(self) -> list[str]:
        from backend.hooks import run_ledger_checks
        from backend.ledger import service as ledger

        return ledger.verify() + run_ledger_checks(self.client.application)
