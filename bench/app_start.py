"""Cold start of the Kivy apps to their first screen, offscreen (goal: ≤ 2 s).

Each run is a fresh process, ``python -m consumer_app`` or ``-m merchant_app``,
with an empty data folder (so the first screen is the log-in screen) and no
server needed. The app prints a mark after its first frame is drawn and quits;
the time is from spawning the process to reading that mark: interpreter start,
imports, Kivy's window and GL context, fonts, kv rules and the first frame.
The median of the runs is reported.

Usage: python -m bench.app_start [--runs 5] [--apps consumer,merchant] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 2.0
MARK = "suiyuan-first-frame"
APPS = {"consumer": "consumer_app", "merchant": "merchant_app"}


def cold_start(app: str, timeout_s: float = 60.0) -> tuple[float, str]:
    """Start ``app`` once; return (seconds to its first frame, the first screen's name)."""
    with tempfile.TemporaryDirectory(prefix="suiyuan-start-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KIVY_", "SUIYUAN_"))}
        env.pop("DISPLAY", None)  # offscreen, as in CI
        env.update(
            KIVY_NO_ARGS="1", KIVY_HOME=str(Path(tmp) / "kivy"), KIVY_NO_CONSOLELOG="1", KIVY_NO_FILELOG="1",
            SUIYUAN_DATA_DIR=str(Path(tmp) / "data"), SUIYUAN_BENCH_FIRST_FRAME="1",
            SUIYUAN_API="http://127.0.0.1:9/api/v1", SUIYUAN_WINDOW_WIDTH="360", SUIYUAN_WINDOW_HEIGHT="640",
            SUIYUAN_NO_CAMERA="1",
        )
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", APPS[app]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        try:
            deadline = started + timeout_s
            for line in proc.stdout:
                if line.startswith(MARK):
                    elapsed = time.perf_counter() - started
                    screen = line.split()[-1]
                    proc.wait(timeout=max(1.0, deadline - time.perf_counter()))
                    return elapsed, screen
                if time.perf_counter() > deadline:
                    break
            proc.wait(timeout=5)
            raise RuntimeError(f"{app} never drew its first screen:\n{proc.stderr.read()[-3000:]}")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def measure(apps=("consumer", "merchant"), runs: int = 5) -> dict:
    """Return ``{app: {median_s, runs_s, first_screen, goal_s, meets_goal}}``."""
    out = {}
    for app in apps:
        times, screen = [], ""
        for _ in range(runs):
            t, screen = cold_start(app)
            times.append(round(t, 3))
        median = statistics.median(times)
        out[app] = {"median_s": round(median, 3), "runs_s": times, "first_screen": screen, "goal_s": GOAL_S,
                    "meets_goal": median <= GOAL_S}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--apps", default="consumer,merchant")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(tuple(a.strip() for a in args.apps.split(",") if a.strip()), args.runs)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for app, r in result.items():
            verdict = "meets" if r["meets_goal"] else "MISSES"
            print(f"{app:9s} cold start to '{r['first_screen']}': median {r['median_s']:.2f} s over "
                  f"{len(r['runs_s'])} runs {r['runs_s']} — {verdict} the {GOAL_S:.0f} s goal")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
