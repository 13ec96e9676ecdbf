"""The consumer app warns before paying a scam, online and with the network gone (cached keys and list)."""

from __future__ import annotations

import dataclasses

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from backend.auth.models import Role
from consumer_app import presenters as p
from consumer_app.strings import STRINGS
from payclient.api import ApiClient
from protection import registry
from suiyuan_protocol import codec
from tests.factories import PASSWORD
from tests.payclient.live import settle


@pytest.fixture
def sv(services, world):
    s = services()
    s.tr.add(STRINGS)
    s.api.login(world.consumer.phone, world.password)
    return s


def confirm(factory, kind: str, value: str) -> None:
    """A consumer reports ``value`` and the pilot office confirms it (the services, in the test's context)."""
    reporter, pilot = factory.consumer(), factory.user(Role.PILOT_ADMIN)
    entry, _ = registry.report(reporter.user, kind, value, "扫码被骗")
    registry.review(pilot.user, entry.id, "confirm", "核实为诈骗")
    settle()


def test_a_phishing_link_a_foreign_key_and_a_reported_merchant_are_flagged_online_and_offline(
        sv, view, world, factory, live_url):
    owner_api = ApiClient(live_url)
    owner_api.login(world.owner.phone, world.password)
    genuine = owner_api.create_order(world.merchant_id, 2_000).payload
    rogue = codec.sign(dataclasses.replace(codec.parse(genuine), signature=None), "k-rogue",
                       Ed25519PrivateKey.generate())
    scam_owner = factory.user(Role.MERCHANT_OWNER)
    scam = factory.merchant(owner=scam_owner, name_zh="假冒茶居", name_en="Fake Tea")
    confirm(factory, "merchant", f"M{scam.id:09d}")
    scam_api = ApiClient(live_url)
    scam_api.login(scam_owner.phone, PASSWORD)
    scam_code = scam_api.static_qr(scam.id).payload  # the scam merchant's real, signed code

    pay = p.PayPresenter(sv, view)

    def verdicts():
        pay.submit_text("https://ecny-subsidy.example.com/receive")
        phishing = view.last("show_error")[0]
        pay.submit_text(rogue)
        forged = view.last("show_preview")[0]
        pay.submit_text(scam_code)
        reported = view.last("show_preview")[0]
        return phishing, forged, reported

    online = verdicts()
    sv.api.base_url = "http://127.0.0.1:9"  # the network is gone: only the device's caches answer
    offline = verdicts()
    for phishing, forged, reported in (online, offline):
        assert "诈骗网址" in phishing
        assert forged.problem == "qr_unknown_key" and not forged.can_pay
        assert forged.warning_title == "警告：这可能是假码"
        assert reported.problem == "payee_reported_fraud" and not reported.can_pay
        assert reported.warning_title == "警告：收款方涉嫌诈骗" and "诈骗" in reported.warning
    sv.api.base_url = live_url
    pay.submit_text(genuine)
    assert view.last("show_preview")[0].can_pay
