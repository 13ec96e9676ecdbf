"""Reading a batch file (CSV or XLSX) as a stream of checked lines, in bounded memory.

A file is read twice at most and never held whole: CSV is first scanned in
64 KiB chunks to settle its encoding (a UTF-8 BOM, UTF-8, else GB18030, the
superset of GBK that Chinese Excel writes), then parsed row by row with the
``csv`` module, which reads Excel-style quoting (fields in double quotes with
commas, doubled quotes and line breaks inside); XLSX goes through openpyxl's read-only mode, which streams the
sheet's XML. Each row is checked for form (phone, name, amount with at most two
decimals, category, memo); the caller (``service.upload``) checks the payees.

Form errors are collected with their line numbers (the first ``MAX_ERRORS``
kept, all counted); any of them refuses the whole file, so a malformed file
creates nothing.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from backend.auth.service import normalize_phone
from backend.errors import ValidationFailed
from payouts.models import Category

#: Lines in one file at most (the issue's 100,000-line files must stream through).
MAX_LINES = 100_000
#: One line at most: ¥1,000,000 (a year's salary at a state-owned enterprise's top; anything larger is a typo).
LINE_MAX_FEN = 1_000_000 * 100
MAX_ERRORS = 200
MEMO_MAX = 140
NAME_MAX = 64
CHUNK = 64 * 1024

#: Header names accepted for each column, in English or Chinese (any order; memo optional).
COLUMNS = {
    "phone": ("phone", "payee_phone", "mobile", "手机号", "手机号码", "手机", "电话"),
    "name": ("name", "payee_name", "姓名", "户名", "收款人", "收款人姓名"),
    "amount": ("amount", "amount_yuan", "金额", "金额(元)", "金额（元）", "发放金额"),
    "category": ("category", "类别", "类型", "发放类别", "款项类别"),
    "memo": ("memo", "备注", "摘要", "用途"),
}
REQUIRED = ("phone", "name", "amount", "category")
#: Each column's Chinese header (its first Chinese alias), for reasons read in Chinese.
COLUMN_NAMES_ZH = {col: next(a for a in aliases if not a.isascii()) for col, aliases in COLUMNS.items()}
_HEADER_LOOKUP = {alias.lower(): col for col, aliases in COLUMNS.items() for alias in aliases}


@dataclass(frozen=True)
class ParsedLine:
    line_no: int
    phone: str
    name: str
    amount_fen: int
    category: str
    memo: str | None


@dataclass
class FileProblems:
    """Form errors found so far: the first ``MAX_ERRORS`` with line numbers, and how many in all."""

    items: list
    count: int = 0

    def add(self, line: int | None, column: str | None, code: str, reason: str, **params) -> None:
        """Record one problem; ``params`` are the specifics a translation of ``reason`` needs (the text found,
        a limit), so a Chinese reader gets them too (``backend.problem_text.PROBLEM_REASONS_ZH``)."""
        self.count += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"line": line, "column": column, "code": code, "reason": reason, "params": params})


class FileRefused(ValidationFailed):
    """The file cannot be read or has malformed lines; nothing was created."""

    code = "file_invalid"
    title = "The file was refused"


def _refuse(problems: FileProblems, detail: str | None = None) -> FileRefused:
    first = problems.items[0] if problems.items else None
    summary = detail or (f"{problems.count} problem(s) in the file; the first on line {first['line']}: "
                         f"{first['reason']}" if first else "The file was refused.")
    return FileRefused(summary, field="file", problems=problems.items, problem_count=problems.count)


# ---------------------------------------------------------------- cells


def parse_yuan(text: str) -> tuple[int | None, str | None, str | None]:
    """Return ``(amount_fen, None, None)`` or ``(None, code, reason)`` for an amount in yuan as typed."""
    raw = (text or "").strip().replace("\u00a0", "").replace(" ", "")
    raw = raw.lstrip("¥￥")
    if re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", raw):
        raw = raw.replace(",", "")  # thousands separators as Excel shows them
    if not raw:
        return None, "amount_missing", "The amount is empty."
    if not re.fullmatch(r"[+-]?\d+(\.\d+)?", raw):
        return None, "amount_invalid", f"{text.strip()!r} is not an amount in yuan (e.g. 3850.50)."
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return None, "amount_invalid", f"{text.strip()!r} is not an amount in yuan."
    if value <= 0:
        return None, "amount_not_positive", "The amount must be above zero."
    if value != value.quantize(Decimal("0.01")):
        return None, "amount_precision", "Amounts have at most two decimals (fen)."
    fen = int(value * 100)
    if fen > LINE_MAX_FEN:
        return None, "amount_too_large", f"One line pays at most ¥{LINE_MAX_FEN // 100:,}."
    return fen, None, None


def _cell_text(value) -> str:
    """A cell as text: XLSX numbers become their shortest decimal form (no float arithmetic on money)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        # repr is the shortest text that reads back as the same double: what the person typed.
        return repr(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").strip()


def check_row(line_no: int, cells: dict[str, str], problems: FileProblems) -> ParsedLine | None:
    """Return the row as a ``ParsedLine``, or record its form errors and return None."""
    before = problems.count
    phone = ""
    try:
        phone = normalize_phone(_norm(cells.get("phone", "")))
    except ValidationFailed as exc:
        problems.add(line_no, "phone", "phone_invalid", exc.detail, value=_norm(cells.get("phone", "")))
    name = _norm(cells.get("name", ""))
    if not name:
        problems.add(line_no, "name", "name_missing", "The payee's name is empty.")
    elif len(name) > NAME_MAX:
        problems.add(line_no, "name", "name_too_long", f"Names have at most {NAME_MAX} characters.", max=NAME_MAX)
    amount_fen, code, reason = parse_yuan(_norm(cells.get("amount", "")))
    if code:
        problems.add(line_no, "amount", code, reason, value=_norm(cells.get("amount", "")),
                     max=f"{LINE_MAX_FEN // 100:,}")
    raw_category = _norm(cells.get("category", ""))
    category = Category.ALIASES.get(raw_category.lower())
    if category is None:
        problems.add(line_no, "category", "category_unknown",
                     f"{raw_category!r} is not a category: use salary/工资, allowance/津贴, subsidy/补贴 or "
                     "reimbursement/报销.", value=raw_category)
    memo = _norm(cells.get("memo", "")) or None
    if memo and len(memo) > MEMO_MAX:
        problems.add(line_no, "memo", "memo_too_long", f"Memos have at most {MEMO_MAX} characters.", max=MEMO_MAX)
    if problems.count > before:
        return None
    return ParsedLine(line_no, phone, name, amount_fen, category, memo)


def _header(row: list, problems: FileProblems) -> list[str | None] | None:
    """Map the header row to column keys; record a refusal and return None when it does not fit."""
    keys: list[str | None] = []
    for i, cell in enumerate(row):
        name = _norm(_cell_text(cell)).lower()
        if not name:
            keys.append(None)  # an empty header cell (Excel's trailing columns): ignored
            continue
        key = _HEADER_LOOKUP.get(name)
        if key is None:
            problems.add(1, name, "column_unknown", f"Column {i + 1} ({name!r}) is not one of: "
                         + ", ".join(f"{c} ({'/'.join(a[1:3] if len(a) > 2 else a)})" for c, a in COLUMNS.items()),
                         position=i + 1, value=name)
        elif key in keys:
            problems.add(1, name, "column_repeated", f"The {key} column appears twice.", value=name)
        keys.append(key)
    missing = [c for c in REQUIRED if c not in keys]
    if missing:
        problems.add(1, None, "columns_missing", "The header row lacks: " + ", ".join(missing)
                     + " (expected phone, name, amount, category, memo or 手机号, 姓名, 金额, 类别, 备注).",
                     missing="、".join(COLUMN_NAMES_ZH[c] for c in missing))
    return None if problems.count else keys


def _rows_to_lines(rows: Iterator[tuple[int, list]], problems: FileProblems) -> Iterator[ParsedLine]:
    """Check each data row against the header; yield the good ones (the caller stops inserting at the
    first problem but keeps reading, so every line's problems are reported)."""
    try:
        first = next(rows)
    except StopIteration:
        problems.add(None, None, "file_empty", "The file is empty.")
        return
    keys = _header(first[1], problems)
    if keys is None:
        return
    count = 0
    for line_no, row in rows:
        texts = [_cell_text(c) for c in row]
        if not any(t.strip() for t in texts):
            continue  # a blank row (Excel leaves them at the end)
        count += 1
        if count > MAX_LINES:
            problems.add(line_no, None, "too_many_lines", f"A batch has at most {MAX_LINES:,} lines; split the file.",
                         max=f"{MAX_LINES:,}")
            return
        extra = [t for k, t in zip(keys, texts, strict=False) if k is None and t.strip()] + \
            [t for t in texts[len(keys):] if t.strip()]
        if len(texts) < len(keys) and any(k in REQUIRED for k in keys[len(texts):]):
            problems.add(line_no, None, "wrong_column_count",
                         f"The line has {len(texts)} fields; the header has {len(keys)}.",
                         fields=len(texts), header=len(keys))
            continue
        if extra:
            problems.add(line_no, None, "wrong_column_count",
                         "The line has more fields than the header (a comma inside an unquoted field?).",
                         fields=len(texts), header=len(keys))
            continue
        cells = {k: t for k, t in zip(keys, texts, strict=False) if k}
        line = check_row(line_no, cells, problems)
        if line is not None:
            yield line


# ---------------------------------------------------------------- CSV


def sniff_encoding(stream) -> str:
    """Return the codec of a CSV stream: ``utf-8-sig`` (BOM), ``utf-8``, or ``gb18030`` (GBK and its superset).

    Reads the stream once in chunks and rewinds it. Raises ``FileRefused``
    (``encoding_unreadable``, with the line of the first undecodable byte) or
    (``encoding_unsupported``) for UTF-16, which Excel's "Unicode text" writes.
    """
    stream.seek(0)
    head = stream.read(4)
    stream.seek(0)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        problems = FileProblems([])
        problems.add(1, None, "encoding_unsupported",
                     "The file is UTF-16 (Excel's 'Unicode text'); save it as 'CSV UTF-8' or plain CSV.")
        raise _refuse(problems)
    if head.startswith(codecs.BOM_UTF8):
        candidates = ("utf-8-sig",)
    else:
        candidates = ("utf-8", "gb18030")
    first_bad_line = None
    for name in candidates:
        decoder = codecs.getincrementaldecoder(name)()
        lines_before = 1
        try:
            while chunk := stream.read(CHUNK):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    first_bad_line = first_bad_line or lines_before + chunk[:exc.start].count(b"\n")
                    raise
                lines_before += chunk.count(b"\n")
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            stream.seek(0)
            continue
        stream.seek(0)
        return name
    problems = FileProblems([])
    problems.add(first_bad_line, None, "encoding_unreadable",
                 "The file is neither UTF-8 nor GBK/GB18030 text; save it from Excel as 'CSV UTF-8'.")
    raise _refuse(problems)


class _NonClosing(io.RawIOBase):
    """A view of the upload stream that ``TextIOWrapper`` may close without closing the upload."""

    def __init__(self, inner):
        self.inner = inner

    def readable(self):
        return True

    def readinto(self, b):
        data = self.inner.read(len(b))
        b[:len(data)] = data
        return len(data)


def csv_rows(stream, encoding: str, problems: FileProblems) -> Iterator[tuple[int, list]]:
    """Yield ``(line number where the record starts, fields)``; a quoting error is recorded and ends the file."""
    text = io.TextIOWrapper(io.BufferedReader(_NonClosing(stream), CHUNK), encoding=encoding, newline="")
    reader = csv.reader(text, strict=True)
    start = 1
    try:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                problems.add(start, None, "malformed_csv",
                             f"The CSV cannot be read here ({exc}): check the quotes (a field with a comma or a "
                             "quote must be in double quotes, and a quote inside it doubled).")
                return
            yield start, row
            start = reader.line_num + 1
    finally:
        text.detach()


# ---------------------------------------------------------------- XLSX


def xlsx_rows(stream, problems: FileProblems) -> Iterator[tuple[int, list]]:
    """Yield ``(row number, cell values)`` of the workbook's first sheet, streamed (openpyxl read-only)."""
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(stream, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        problems.add(None, None, "xlsx_unreadable", f"The workbook cannot be opened ({exc.__class__.__name__}); "
                     "save it from Excel as .xlsx.")
        return
    try:
        sheet = book.worksheets[0]
        for row_no, row in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield row_no, list(row)
    finally:
        book.close()


def read_lines(stream, file_format: str, problems: FileProblems) -> tuple[Iterator[ParsedLine], str | None]:
    """Return the file's good lines (an iterator) and its text encoding (None for XLSX).

    Form errors go to ``problems``; the caller refuses the file if there are any.
    Raises ``FileRefused`` at once when the encoding cannot be settled.
    """
    if file_format == "xlsx":
        return _rows_to_lines(xlsx_rows(stream, problems), problems), None
    encoding = sniff_encoding(stream)
    return _rows_to_lines(csv_rows(stream, encoding, problems), problems), encoding


def mask_name(name: str | None) -> str | None:
    """Return a name as shown to others: 李*明, 王*, 欧阳**锋 (first and last character kept)."""
    name = _norm(name or "")
    if not name:
        return None
    if len(name) == 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]
