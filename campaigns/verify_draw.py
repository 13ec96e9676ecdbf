"""Recompute a lottery draw from its published document: ``python -m campaigns.verify_draw draw.json``.

``draw.json`` is the body of ``GET /api/v1/campaigns/{id}/draw`` (``-`` reads
stdin). Exits 0 when sha256(seed) matches the hash published at launch and the
recomputed winners equal the published ones, else 1. Needs nothing but Python.
"""

from __future__ import annotations

import json
import sys

from campaigns.draw import verify


def main(argv: list[str] | None = None) -> int:
    """Verify the draw document named in ``argv``; print the result; return the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m campaigns.verify_draw <draw.json | ->", file=sys.stderr)
        return 2
    with (sys.stdin if argv[0] == "-" else open(argv[0], encoding="utf-8")) as fh:
        document = json.load(fh)
    ok, problems, winners = verify(document)
    for p in problems:
        print(f"FAIL {p}", file=sys.stderr)
    if ok:
        print(f"draw OK: campaign {document['campaign_id']}, {len(document['registrants'])} registrants, "
              f"{len(winners)} winners recomputed from the revealed seed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
