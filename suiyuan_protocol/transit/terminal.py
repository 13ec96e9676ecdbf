"""The validator (闸机 / 车载机): prices a tap from the card alone, checks the card's certificate, the
blacklist it last downloaded and the counter, charges, stores the signed record durably (SQLite,
WAL, synchronous=FULL) before it opens the gate, and hands its records out in batches for upload.

Works with no network. Batch ids are deterministic (terminal id and record range), so sending the
same batch again after a lost answer is recognised by the server as the same batch.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, replace
from pathlib import Path

from suiyuan_protocol.transit.card import CardRefused, HardCard
from suiyuan_protocol.transit.fares import DEFAULT_RULES, FareRules, FareState, price
from suiyuan_protocol.transit.records import PaymentRecord, b64, unb64

MODES = ("bus", "metro_in", "metro_out")

MESSAGES_ZH = {
    "ok": "扣款成功",
    "entered": "请进站",
    "capped": "已达封顶，本次免费",
    "blacklisted": "此卡已挂失或停用",
    "not_genuine": "无效卡",
    "replayed": "重复刷卡",
    "bad_signature": "卡片签名无效",
    "insufficient_balance": "余额不足，请圈存",
    "over_single_cap": "超过单笔限额",
    "bad_amount": "金额无效",
    "unknown_station": "车站未知",
}


@dataclass(frozen=True)
class TapResult:
    """What the gate shows: ``accepted``, a stable ``code``, the charge and the balance left."""

    accepted: bool
    code: str
    charge_fen: int
    balance_fen: int | None
    message_zh: str
    elapsed_ms: float
    record: PaymentRecord | None = None
    full_fen: int = 0
    capped: str | None = None


class Terminal:
    """One validator. ``mode`` is bus (``place`` = route) or metro_in / metro_out (``place`` = station)."""

    def __init__(self, terminal_id: str, mode: str, place: str, store_path: str | Path, *,
                 rules: FareRules = DEFAULT_RULES, issuer_keys: dict[str, bytes] | None = None,
                 durable: bool = True):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        self.terminal_id, self.mode, self.place = terminal_id, mode, place
        self.rules = rules
        self.issuer_keys = dict(issuer_keys or {})
        self.blacklist: set[str] = set()
        self.blacklist_version = 0
        self.db = sqlite3.connect(str(store_path), isolation_level=None)
        # WAL with synchronous=FULL: each stored tap is one fsync of the log before the gate opens.
        # ``durable=False`` skips the fsync (simulations of many taps only; a power cut may lose taps).
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=" + ("FULL" if durable else "OFF"))
        self.db.executescript("""
            CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY AUTOINCREMENT, card_id TEXT NOT NULL,
                counter INTEGER NOT NULL, body TEXT NOT NULL, acked INTEGER NOT NULL DEFAULT 0,
                UNIQUE (card_id, counter));
            CREATE TABLE IF NOT EXISTS seen (card_id TEXT PRIMARY KEY, counter INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
        """)
        saved = dict(self.db.execute("SELECT name, value FROM meta"))
        if "blacklist" in saved:
            data = json.loads(saved["blacklist"])
            self.blacklist, self.blacklist_version = set(data["card_ids"]), data["version"]
        if "fares" in saved:
            self.rules = FareRules.from_json(json.loads(saved["fares"]))
        if "issuer_keys" in saved:
            self.issuer_keys = {k: unb64(v, "issuer_keys") for k, v in json.loads(saved["issuer_keys"]).items()}

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------------ downloads

    def apply_blacklist(self, data: dict) -> None:
        """Replace the blacklist with a downloaded one ({"version", "card_ids"}) unless it is older."""
        if data["version"] < self.blacklist_version:
            return
        self.blacklist, self.blacklist_version = set(data["card_ids"]), data["version"]
        self._save_meta("blacklist", {"version": data["version"], "card_ids": sorted(self.blacklist)})

    def apply_fares(self, data: dict) -> None:
        """Use a downloaded fare table."""
        self.rules = FareRules.from_json(data)
        self._save_meta("fares", data)

    def apply_issuer_keys(self, keys: dict[str, bytes]) -> None:
        """Use (and keep) the downloaded issuer keys that certify cards."""
        self.issuer_keys = dict(keys)
        self._save_meta("issuer_keys", {k: b64(v) for k, v in keys.items()})

    def _save_meta(self, name: str, value: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, json.dumps(value)))

    # ------------------------------------------------------------------ taps

    def _refuse(self, code: str, started: float, balance: int | None = None) -> TapResult:
        return TapResult(False, code, 0, balance, MESSAGES_ZH[code], (time.perf_counter() - started) * 1000)

    def tap(self, card: HardCard, at: int) -> TapResult:
        """Serve one tap of ``card`` at Unix time ``at``; return what the gate shows.

        A card without a genuine certificate or on the blacklist is refused before anything is
        charged; a charge is stored (fsync'ed) before the result is returned.
        """
        started = time.perf_counter()
        cert = card.certificate
        if cert is None or cert.card_id != card.card_id or not cert.verify(self.issuer_keys):
            return self._refuse("not_genuine", started)
        if card.card_id in self.blacklist:
            return self._refuse("blacklisted", started, card.balance_fen)
        state: FareState = card.fare_state
        rules = self.rules
        trip = ""
        try:
            if self.mode == "bus":
                full = rules.bus_fare_fen(self.place)
                trip = f"bus:{self.place}"
            elif self.mode == "metro_in":
                if state.entry_station is None:
                    if card.balance_fen < rules.metro_base_fen:
                        return self._refuse("insufficient_balance", started, card.balance_fen)
                    card.set_fare_state(replace(state, entry_station=self.place, entry_at=at))
                    return TapResult(True, "entered", 0, card.balance_fen, MESSAGES_ZH["entered"],
                                     (time.perf_counter() - started) * 1000)
                # The last journey never tapped out: charge the maximum now, open the new one.
                full = rules.metro_max_fen
                trip = f"metro:{state.entry_station}>?"
            else:
                if state.entry_station is None:
                    full, trip = rules.metro_max_fen, f"metro:?>{self.place}"
                else:
                    full = rules.metro_fare_fen(rules.distance_m(state.entry_station, self.place))
                    trip = f"metro:{state.entry_station}>{self.place}"
        except KeyError:
            return self._refuse("unknown_station", started, card.balance_fen)
        quote = price(rules, state, full, at)
        new_state = replace(quote.state, entry_station=self.place if self.mode == "metro_in" else None,
                            entry_at=at if self.mode == "metro_in" else None)
        if quote.charge_fen == 0:
            card.set_fare_state(new_state)
            return TapResult(True, "capped", 0, card.balance_fen, MESSAGES_ZH["capped"],
                             (time.perf_counter() - started) * 1000, None, full, quote.capped)
        try:
            record = card.pay(quote.charge_fen, self.terminal_id, at, trip=trip, fare_state=new_state)
        except CardRefused as exc:
            return self._refuse(exc.code, started, card.balance_fen)
        code = self.accept(record, unb64(cert.public_key, "public_key"), quote.charge_fen)
        if code != "ok":
            return self._refuse(code, started, card.balance_fen)
        return TapResult(True, "ok", quote.charge_fen, card.balance_fen, MESSAGES_ZH["ok"],
                         (time.perf_counter() - started) * 1000, record, full, quote.capped)

    def accept(self, record: PaymentRecord, card_public_key: bytes, expected_fen: int) -> str:
        """Check a card's answer and store it durably; return "ok" or why it was refused
        (bad_signature, replayed, blacklisted, bad_amount)."""
        if record.card_id in self.blacklist:
            return "blacklisted"
        if record.terminal_id != self.terminal_id or record.amount_fen != expected_fen:
            return "bad_amount"
        if not record.verify(card_public_key):
            return "bad_signature"
        row = self.db.execute("SELECT counter FROM seen WHERE card_id = ?", (record.card_id,)).fetchone()
        if row is not None and record.counter <= row[0]:
            return "replayed"
        body = json.dumps(record.to_json(), sort_keys=True)
        with self.db:  # one durable transaction: the record and the counter it consumed
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO records (card_id, counter, body) VALUES (?, ?, ?)",
                            (record.card_id, record.counter, body))
            self.db.execute("INSERT OR REPLACE INTO seen (card_id, counter) VALUES (?, ?)",
                            (record.card_id, record.counter))
        return "ok"

    # ------------------------------------------------------------------ uploads

    def pending_batch(self, limit: int = 1000) -> dict | None:
        """Return the oldest ``limit`` records not yet acknowledged, as an upload body; None if none."""
        rows = self.db.execute("SELECT seq, body FROM records WHERE acked = 0 ORDER BY seq LIMIT ?",
                               (limit,)).fetchall()
        if not rows:
            return None
        return {"terminal_id": self.terminal_id, "batch_id": f"{self.terminal_id}:{rows[0][0]}-{rows[-1][0]}",
                "records": [json.loads(body) for _, body in rows]}

    def all_batches(self, size: int = 1000) -> list[dict]:
        """Return every stored record (acknowledged or not) in batches of ``size``, for re-sending."""
        rows = self.db.execute("SELECT seq, body FROM records ORDER BY seq").fetchall()
        return [{"terminal_id": self.terminal_id, "batch_id": f"{self.terminal_id}:{chunk[0][0]}-{chunk[-1][0]}",
                 "records": [json.loads(body) for _, body in chunk]}
                for chunk in (rows[i:i + size] for i in range(0, len(rows), size))]

    def ack(self, batch: dict) -> None:
        """Mark a batch's records as accepted by the server (they stay stored)."""
        first, last = batch["batch_id"].rsplit(":", 1)[1].split("-")
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("UPDATE records SET acked = 1 WHERE seq BETWEEN ? AND ?", (int(first), int(last)))

    def record_count(self, *, pending: bool = False) -> int:
        sql = "SELECT count(*) FROM records" + (" WHERE acked = 0" if pending else "")
        return self.db.execute(sql).fetchone()[0]
