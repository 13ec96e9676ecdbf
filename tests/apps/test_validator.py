"""The validator app: its presenter without a window, its screen offscreen with Chinese text."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from suiyuan_protocol.transit.card import HardCard
from suiyuan_protocol.transit.records import CardCertificate, LoadAuthorisation, b64
from suiyuan_protocol.transit.terminal import Terminal
from tests.apps import harness
from tests.payclient.transit.test_fares import at
from validator_app.presenter import GREEN, RED, ValidatorPresenter

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ISSUER = Ed25519PrivateKey.generate()
KEYS = {"k1": ISSUER.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)}


def card_file(tmp_path, balance_fen=10_000) -> Path:
    card = HardCard.create()
    card.install(CardCertificate(card.card_id, b64(card.public_key), "k1").signed(ISSUER), KEYS)
    card.apply_load(LoadAuthorisation(card.card_id, 1, balance_fen, "k1").signed(ISSUER))
    path = tmp_path / "card.json"
    card.to_file(path)
    return path


def test_presenter_screens(tmp_path):
    t = Terminal("BUS-B1-01", "bus", "B1", tmp_path / "t.sqlite", issuer_keys=KEYS)
    p = ValidatorPresenter(t, "B1路 珠江新城")
    assert p.idle().big == "请刷卡"
    path = card_file(tmp_path)
    s = p.tap_file(path, at("2026-03-02"))
    assert (s.big, s.colour) == ("扣款成功", GREEN) and "扣款 ¥2.00" in s.detail and "余额 ¥98.00" in s.detail
    assert "待上传 1 笔" in s.header and s.elapsed_ms < 300
    assert HardCard.from_file(path).balance_fen == 9_800  # the chip's state was written back
    t.apply_blacklist({"version": 1, "card_ids": [HardCard.from_file(path).card_id]})
    s = p.tap_file(path, at("2026-03-02", "09:00"))
    assert (s.big, s.colour) == ("此卡已挂失或停用", RED)


@pytest.fixture
def window():
    return harness.window()


def test_validator_screen_renders_chinese_offscreen(tmp_path, window):
    from validator_app.main import ValidatorView

    t = Terminal("M-KC-OUT-01", "metro_out", "L3-KC", tmp_path / "t.sqlite", issuer_keys=KEYS)
    path = card_file(tmp_path)
    card = HardCard.from_file(path)
    Terminal("M-TYXL-IN-01", "metro_in", "L3-TYXL", tmp_path / "in.sqlite", issuer_keys=KEYS) \
        .tap(card, at("2026-03-02", "08:00"))
    card.to_file(path)
    view = ValidatorView(ValidatorPresenter(t, "客村站 出站闸机"), str(path))
    harness.mount(view)
    harness.shoot(SHOTS / "validator-idle.png")
    harness.tap(view.button)
    assert view.big.text == "扣款成功" and "¥3.00" in view.detail.text
    shot = harness.shoot(SHOTS / "validator-charged.png")
    assert shot.stat().st_size > 5_000
    t.apply_blacklist({"version": 2, "card_ids": [card.card_id]})
    harness.tap(view.button)
    assert view.big.text == "此卡已挂失或停用"
    harness.shoot(SHOTS / "validator-refused.png")
