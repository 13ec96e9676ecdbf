"""The layers, read from the imports: the wire rules live once in ``suiyuan_protocol`` (which imports
neither Flask nor Kivy), the server does not depend on the client library, no plug-in module imports a
sibling that imports it back, and no QR identifier or tag number is written outside the protocol."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.test_hooks import ROOT, imports, plugins, sources

PROTOCOL = "suiyuan_protocol"
APPS = ("consumer_app", "merchant_app")


def production_packages() -> list[str]:
    """Every top-level package of shipped code (not the tests or the benchmarks)."""
    return sorted(p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name not in {"tests", "bench"})


def test_the_packages_are_found():
    assert {PROTOCOL, "backend", "payclient", "zones", "campaigns", *APPS} <= set(production_packages())


def test_the_server_does_not_import_the_client_library():
    offending = [f"{path.relative_to(ROOT)} imports payclient"
                 for package in ["backend", *sorted(plugins())]
                 for path in sources(package)
                 for module, _ in imports(path) if module in {"payclient", *APPS}]
    assert offending == []


def test_the_protocol_imports_neither_side():
    allowed_own = {PROTOCOL, "__future__"}
    forbidden = {"flask", "kivy", "sqlalchemy", "backend", "payclient", "httpx", "requests", *APPS, *plugins()}
    offending = [f"{path.relative_to(ROOT)} imports {module}"
                 for path in sources(PROTOCOL) for module, _ in imports(path)
                 if module in forbidden or (module not in allowed_own and module.startswith("suiyuan"))]
    assert offending == []


def test_the_client_core_and_apps_import_no_server():
    server = {"flask", "sqlalchemy", "backend", *plugins()}
    offending = [f"{path.relative_to(ROOT)} imports {module}"
                 for package in ["payclient", *APPS] for path in sources(package)
                 for module, _ in imports(path) if module in server]
    assert offending == []


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sibling_imports(path: Path, package: str) -> set[str]:
    """Modules of ``package`` that ``path`` imports (anywhere in the file, lazily or not)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == package:  # from campaigns import service
                found.update(f"{package}.{a.name}" for a in node.names)
            elif node.module.startswith(package + "."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith(package + "."))
    return found


def import_cycles(package: str) -> set[tuple[str, str]]:
    """Pairs (a, b), a < b, of modules of ``package`` that import each other."""
    modules = {_module_name(p): p for p in sources(package)}
    edges = {name: _sibling_imports(path, package) & set(modules) for name, path in modules.items()}
    return {tuple(sorted((a, b))) for a, targets in edges.items() for b in targets if a != b and a in edges[b]}


# Campaigns' modules that import each other back, being taken apart on another branch (a lifecycle
# module the others import, issue #22 item 4). Nothing may be added here.
KNOWN_CYCLES = {
    ("campaigns.service", "campaigns.settlement"),
    ("campaigns.service", "campaigns.tasks"),
}


def test_no_plugin_module_imports_a_sibling_that_imports_it_back():
    for package in sorted(plugins()):
        assert import_cycles(package) - KNOWN_CYCLES == set(), package


def test_the_cycle_check_sees_a_cycle(tmp_path, monkeypatch):
    pkg = tmp_path / "plug"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from plug import b\n")
    (pkg / "b.py").write_text("def f():\n    from plug.a import x\n")
    (pkg / "c.py").write_text("import plug.a\n")
    monkeypatch.setattr("tests.test_layers.ROOT", tmp_path)
    monkeypatch.setattr("tests.test_layers.sources", lambda p: sorted((tmp_path / p).rglob("*.py")))
    assert import_cycles("plug") == {("plug.a", "plug.b")}


# ------------------------------------------------------------------ the QR profile is written once

IDENTIFIER = re.compile(r"cn\.suiyuan\.")
#: The payload's raw tag maps: read them through the named accessors instead.
TAG_MAPS = {"additional", "unreserved", "merchant_accounts", "network_accounts", "rfu"}


def profile_literals(path: Path) -> list[str]:
    """Where ``path`` writes a QR identifier, or reads or builds a payload's tag map by number."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and IDENTIFIER.search(node.value):
            found.append(f"{where} writes {node.value!r}")
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr in TAG_MAPS:
            found.append(f"{where} indexes .{node.value.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get" \
                and isinstance(node.func.value, ast.Attribute) and node.func.value.attr in TAG_MAPS:
            found.append(f"{where} reads .{node.func.value.attr}.get")
        elif isinstance(node, ast.Call):
            found.extend(f"{where} builds {k.arg}=" for k in node.keywords if k.arg in TAG_MAPS)
    return found


def test_no_qr_identifier_or_tag_number_outside_the_protocol():
    offending = [hit for package in production_packages() if package != PROTOCOL
                 for path in sources(package) for hit in profile_literals(path)]
    assert offending == []


def test_the_literal_check_sees_each_form(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_layers.ROOT", tmp_path)
    bad = tmp_path / "bad.py"
    bad.write_text('G = "cn.suiyuan.pay"\n'
                   'r = payload.additional["05"]\n'
                   'e = payload.unreserved.get("80")\n'
                   'p = MerchantPayload(merchant_accounts={"26": {}})\n'
                   'ok = payload.reference\n', encoding="utf-8")
    assert profile_literals(bad) == ["bad.py:1 writes 'cn.suiyuan.pay'", "bad.py:2 indexes .additional",
                                     "bad.py:3 reads .unreserved.get", "bad.py:4 builds merchant_accounts="]
