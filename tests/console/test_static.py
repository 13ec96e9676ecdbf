"""The console's static side without a browser: it is served (public, with a strict CSP), every file it
loads exists, every string it shows exists in Chinese and English, and the vendored libraries are the
pinned versions from the npm registry."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "static"
CONSOLE = STATIC / "console"
#: The console's strings, with a plug-in's own locale files (locales/<plug-in>.<lang>.json, added by i18n.extend).
LOCALES = {name: {k: v for path in [CONSOLE / "locales" / f"{name}.json",
                                    *sorted((CONSOLE / "locales").glob(f"*.{name}.json"))]
                  for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
           for name in ("zh", "en")}
SCRIPTS = sorted(CONSOLE.rglob("*.js"))


@pytest.fixture(scope="module")
def web():
    """The app's test client; no database is touched by these routes."""
    from backend import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "test", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                      "FAKE_REDIS_SERVER": uuid.uuid4().hex})
    return app.test_client()


def test_the_front_page_is_the_console_and_it_is_public(web):
    resp = web.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/console/")
    assert web.get("/console").status_code == 301
    page = web.get("/console/")
    assert page.status_code == 200 and page.mimetype == "text/html"
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert b'lang="zh-CN"' in page.data


def test_every_file_the_page_loads_is_served_from_this_origin(web):
    html = (CONSOLE / "index.html").read_text(encoding="utf-8")
    urls = re.findall(r'(?:src|href)="(/[^"#]+)"', html)
    assert {"/static/vendor/chart.js/chart.umd.min.js", "/static/vendor/leaflet/leaflet.js",
            "/static/console/app.js"} <= set(urls)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', html), "the console must work with no internet"
    for url in urls:
        resp = web.get(url)
        assert resp.status_code == 200, url
    assert web.get("/static/console/app.js").mimetype in ("text/javascript", "application/javascript")
    assert web.get("/static/console/locales/zh.json").mimetype == "application/json"  # JSON modules need it


def test_nothing_outside_static_is_served(web):
    for url in ("/static/../backend/config.py", "/static/%2e%2e/backend/config.py", "/static/console/nope.js",
                "/console/../backend/config.py"):
        assert web.get(url).status_code == 404, url


def test_every_module_import_resolves_to_a_file():
    for script in SCRIPTS:
        for target in re.findall(r"from '(\.[^']+)'", script.read_text(encoding="utf-8")):
            assert (script.parent / target).resolve().is_file(), f"{script.name} imports {target}"


def literal_keys() -> set[str]:
    keys = set()
    for script in SCRIPTS:
        keys.update(re.findall(r"\bt\(\s*'([a-z0-9_.]+)'", script.read_text(encoding="utf-8")))
    return keys


def test_every_string_the_console_shows_exists_in_chinese_and_english():
    assert set(LOCALES["zh"]) == set(LOCALES["en"])
    used = literal_keys()
    assert len(used) > 200
    missing = sorted(k for k in used if k not in LOCALES["zh"])
    assert not missing, f"strings without a translation: {missing}"
    for key, zh in LOCALES["zh"].items():
        en = LOCALES["en"][key]
        assert zh.strip() and en.strip(), key
        assert set(re.findall(r"\{(\w+)\}", zh)) == set(re.findall(r"\{(\w+)\}", en)), key


def test_every_value_the_api_names_has_a_label():
    """Roles, scenarios, zone kinds, campaign kinds and statuses, ranking metrics: from the backend itself."""
    from backend.auth.models import Role
    from backend.merchants.models import SCENARIOS, MerchantStatus
    from campaigns.models import CampaignKind, CampaignStatus
    from zones.models import ZONE_KINDS, ReportStatus
    from zones.queries import RANKING_METRICS

    expected = ([f"role.{r}" for r in Role.ALL] + [f"scenario.{s}" for s in SCENARIOS]
                + [f"status.{s}" for s in MerchantStatus.ALL] + [f"zone_kind.{k}" for k in ZONE_KINDS]
                + [f"campaign_kind.{k}" for k in CampaignKind.ALL]
                + [f"campaign_status.{s}" for s in CampaignStatus.ALL]
                + [f"metric.{m}" for m in RANKING_METRICS] + [f"reports.status_{s}" for s in ReportStatus.ALL])
    missing = [k for k in expected if k not in LOCALES["zh"]]
    assert not missing, missing


def test_the_vendored_libraries_are_the_pinned_npm_releases():
    pins = json.loads((STATIC / "vendor" / "package.json").read_text())["dependencies"]
    readme = (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")
    chart = (STATIC / "vendor" / "chart.js" / "chart.umd.min.js").read_text(encoding="utf-8")
    leaflet = (STATIC / "vendor" / "leaflet" / "leaflet.js").read_text(encoding="utf-8")
    assert re.fullmatch(r"\d+\.\d+\.\d+", pins["chart.js"]) and re.fullmatch(r"\d+\.\d+\.\d+", pins["leaflet"])
    assert f"Chart.js v{pins['chart.js']}" in chart[:300]
    assert f"Leaflet {pins['leaflet']}" in leaflet[:300]
    assert f"| Chart.js | {pins['chart.js']} |" in readme and f"| Leaflet | {pins['leaflet']} |" in readme
    for licence in ("chart.js/LICENSE.md", "leaflet/LICENSE"):
        assert (STATIC / "vendor" / licence).is_file()
