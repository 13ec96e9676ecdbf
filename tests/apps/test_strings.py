"""Every text the apps show exists in Chinese and in English."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consumer_app.strings import STRINGS as CONSUMER
from merchant_app.strings import STRINGS as MERCHANT
from payclient.i18n import COMMON, Catalog

ROOT = Path(__file__).resolve().parents[2]
KEY = re.compile(r"""\btr\(\s*['"]([a-z0-9_.]+)['"]""")


@pytest.mark.parametrize("table", [COMMON, CONSUMER, MERCHANT], ids=["common", "consumer", "merchant"])
def test_both_languages_have_the_same_keys(table):
    assert set(table["zh"]) == set(table["en"])


@pytest.mark.parametrize("app, table", [("consumer_app", CONSUMER), ("merchant_app", MERCHANT)])
def test_every_key_used_by_an_app_is_translated(app, table):
    catalog = Catalog(table)
    used = set()
    for path in [*(ROOT / app).glob("*.kv"), *(ROOT / app).glob("*.py"), *(ROOT / "payclient" / "ui").glob("*.py")]:
        used |= set(KEY.findall(path.read_text(encoding="utf-8")))
    missing = sorted(k for k in used if not catalog.has(k) and not k.endswith("."))
    assert not missing
