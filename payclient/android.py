"""Stage an app for an Android build with buildozer (``python -m payclient.android consumer``).

Buildozer packages one folder with a ``main.py`` at its root, but the apps
share ``payclient`` and ``suiyuan_protocol``. This copies the app package, both of
those (``payclient`` with the CJK font) and the app's ``buildozer.spec`` into one folder and writes the
``main.py`` that starts the app; then run ``buildozer android debug`` there.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPS = {"consumer": ("consumer_app", "ConsumerApp"), "merchant": ("merchant_app", "MerchantApp")}
MAIN = '''"""Android entry point of {package} (written by payclient.android)."""
import os

os.environ.setdefault("KIVY_NO_ARGS", "1")
from {package}.main import {cls}  # noqa: E402

{cls}().run()
'''
#: The packages every app needs besides its own.
SHARED = ("payclient", "suiyuan_protocol")
_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "android.py", "buildozer.spec", ".buildozer", "bin")


def stage(app: str, out: Path) -> Path:
    """Assemble ``out`` (replaced if it exists) for ``app``; return it."""
    package, cls = APPS[app]
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copytree(ROOT / package, out / package, ignore=_IGNORE)
    for shared in SHARED:
        shutil.copytree(ROOT / shared, out / shared, ignore=_IGNORE)
    shutil.copy2(ROOT / package / "buildozer.spec", out / "buildozer.spec")
    (out / "main.py").write_text(MAIN.format(package=package, cls=cls), encoding="utf-8")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("app", choices=sorted(APPS))
    parser.add_argument("--out", type=Path, default=None,
                        help="where to stage (default ~/.cache/suiyuan-android/<app>)")
    args = parser.parse_args(argv)
    out = stage(args.app, args.out or Path.home() / ".cache" / "suiyuan-android" / args.app)
    print(f"staged {args.app} in {out}\nnext: cd {out} && buildozer android debug")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
