"""A 100,000-line file streams through validation in bounded memory (PostgreSQL, the production engine)."""

from __future__ import annotations

import tempfile
import time
import tracemalloc

from backend.extensions import db
from payouts import service
from payouts.models import Line
from tests.payouts.helpers import bulk_payees


def write_file(path, n_lines: int, people) -> int:
    total = 0
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        f.write("手机号,姓名,金额,类别,备注\r\n")
        for i in range(n_lines):
            phone, name = people[i % len(people)]
            fen = 100 + i % 99_900
            total += fen
            f.write(f'{phone},{name},{fen // 100}.{fen % 100:02d},工资,"第{i}行, 三月"\r\n')
    return total


def upload_peak(world, n_lines: int, people) -> tuple[int, float, object]:
    with tempfile.TemporaryFile() as f:
        raw = f
        path = f"/proc/self/fd/{raw.fileno()}"
        total = write_file(path, n_lines, people)
        raw.seek(0)
        tracemalloc.start()
        t0 = time.perf_counter()
        batch = service.upload(world.officer.user, world.org_id, raw, "big.csv", f"BIG-{n_lines}", "大批量")
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert (batch.line_count, batch.valid_count, batch.total_fen) == (n_lines, n_lines, total)
    return peak, elapsed, batch


def test_100000_lines_stream_through_in_bounded_memory(pg_app, world):
    people = bulk_payees(20_000)
    small_peak, _, _ = upload_peak(world, 10_000, people)
    peak, elapsed, batch = upload_peak(world, 100_000, people)
    print(f"\n100,000 lines validated and stored in {elapsed:.1f} s; peak Python memory {peak / 2**20:.1f} MiB "
          f"(10,000 lines: {small_peak / 2**20:.1f} MiB)")
    # Memory does not grow with the file: ten times the lines, about the same peak.
    assert peak < 2 * small_peak + 4 * 2**20 and peak < 64 * 2**20
    assert db.session.query(Line).filter_by(batch_id=batch.id).count() == 100_000
