"""Batch files: encodings, quoting, XLSX, form errors with line numbers, and the validation report."""

from __future__ import annotations

import io
import re

import pytest
from openpyxl import Workbook

from backend.extensions import db
from payouts.models import Batch, Line
from payouts.upload import mask_name, parse_yuan
from tests.payouts.helpers import csv_bytes


def nothing_created():
    db.session.rollback()
    return db.session.query(Batch).count() == 0 and db.session.query(Line).count() == 0


@pytest.mark.parametrize(("typed", "fen"), [("3850.5", 385050), ("3,850.50", 385050), ("¥12", 1200), ("0.01", 1),
                                             (" 100.00 ", 10000)])
def test_amounts_in_yuan_become_exact_fen(typed, fen):
    assert parse_yuan(typed) == (fen, None, None)


@pytest.mark.parametrize(("typed", "code"), [("12.345", "amount_precision"), ("0", "amount_not_positive"),
                                             ("-5", "amount_not_positive"), ("abc", "amount_invalid"),
                                             ("", "amount_missing"), ("1e3", "amount_invalid"),
                                             ("1000000.01", "amount_too_large")])
def test_bad_amounts_are_named(typed, code):
    assert parse_yuan(typed)[1] == code


def test_names_are_masked_like_the_protection_rules():
    assert [mask_name(n) for n in ("李小明", "王芳", "欧阳锋华", "A", "", None)] == \
        ["李*明", "王*", "欧**华", "A", None, None]


def test_a_utf8_bom_gbk_and_excel_quoting_are_read_alike(world):
    a = world.payee("李小明")
    b = world.payee("王芳")
    rows = [[a.phone, "李小明", "8,500.00", "工资", '三月工资, 含"绩效"'],
            [b.phone, "王芳", "1200.5", "allowance", "交通补贴\n第一季度"]]
    batches = []
    for encoding in ("utf-8-sig", "gbk", "utf-8"):
        resp = world.upload(csv_bytes(rows, header=["手机号", "姓名", "金额（元）", "类别", "备注"], encoding=encoding))
        assert resp.status_code == 201, resp.get_json()
        batches.append(resp.get_json())
    assert [b["file"]["encoding"] for b in batches] == ["utf-8-sig", "gb18030", "utf-8"]
    for batch in batches:
        assert (batch["line_count"], batch["valid_count"], batch["total_fen"]) == (2, 2, 850_000 + 120_050)
        lines = world.get(f"/batches/{batch['id']}/lines", world.officer).get_json()["items"]
        assert [(ln["line_no"], ln["memo"], ln["category"]) for ln in lines] == [
            (2, '三月工资, 含"绩效"', "salary"), (3, "交通补贴\n第一季度", "allowance")]
        assert batch["by_category"]["salary"] == {"count": 1, "amount_fen": 850_000, "invalid_count": 0}


def test_xlsx_is_read_with_numbers_and_text_cells(world):
    a = world.payee("李小明")
    wb = Workbook()
    ws = wb.active
    ws.append(["phone", "name", "amount", "category", "memo"])
    ws.append([int(a.phone), "李小明", 3850.5, "salary", None])
    ws.append([a.phone, "李小明", "120", "补贴", "餐补"])
    ws.append([None, None, None, None, None])
    buf = io.BytesIO()
    wb.save(buf)
    resp = world.upload(buf.getvalue(), name="工资.xlsx")
    assert resp.status_code == 201, resp.get_json()
    batch = resp.get_json()
    assert batch["file"]["format"] == "xlsx" and batch["total_fen"] == 385_050 + 12_000 and batch["valid_count"] == 2


def test_each_kind_of_malformed_line_is_refused_with_its_line_number_and_nothing_is_created(world):
    a = world.payee("李小明")
    rows = [[a.phone, "李小明", "100", "salary", ""],
            ["1380013800", "李小明", "100", "salary", ""],  # line 3: phone
            [a.phone, "", "100", "salary", ""],  # 4: name
            [a.phone, "李小明", "12.345", "salary", ""],  # 5: precision
            [a.phone, "李小明", "-1", "salary", ""],  # 6: not positive
            [a.phone, "李小明", "abc", "salary", ""],  # 7: not a number
            [a.phone, "李小明", "100", "bonus", ""],  # 8: category
            [a.phone, "李小明", "100", "salary", "x" * 141],  # 9: memo
            [a.phone, "李小明", "100", "salary", "", "extra"]]  # 10: extra field
    resp = world.upload(csv_bytes(rows))
    assert resp.status_code == 422
    body = resp.get_json()
    assert resp.mimetype == "application/problem+json" and body["code"] == "file_invalid"
    assert body["errors"][0]["field"] == "file"
    assert [(p["line"], p["code"]) for p in body["problems"]] == [
        (3, "phone_invalid"), (4, "name_missing"), (5, "amount_precision"), (6, "amount_not_positive"),
        (7, "amount_invalid"), (8, "category_unknown"), (9, "memo_too_long"), (10, "wrong_column_count")]
    assert body["problem_count"] == 8
    assert nothing_created()


def test_a_refused_files_lines_read_in_chinese_keep_their_specifics(world):
    """Asked in Chinese, each line's reason is a Chinese sentence naming what was found and the limit."""
    a = world.payee("李小明")
    rows = [[a.phone, "李小明", "100", "salary", ""],
            ["1380013800", "李小明", "100", "salary", ""],
            [a.phone, "李小明", "12.345", "salary", ""],
            [a.phone, "李小明", "9999999", "salary", ""],
            [a.phone, "李小明", "100", "bonus", ""],
            [a.phone, "李小明", "100", "salary", "", "extra"]]
    zh = world.upload(csv_bytes(rows), language="zh-CN").get_json()
    en = world.upload(csv_bytes(rows), language="en").get_json()
    reasons = {p["code"]: p["reason"] for p in zh["problems"]}
    assert "「1380013800」" in reasons["phone_invalid"] and "手机号" in reasons["phone_invalid"]
    assert "「12.345」" in reasons["amount_precision"]
    assert "「9999999」" in reasons["amount_too_large"] and "¥" in reasons["amount_too_large"]
    assert "「bonus」" in reasons["category_unknown"] and "工资" in reasons["category_unknown"]
    assert "6 个字段" in reasons["wrong_column_count"] and "表头有 5 个" in reasons["wrong_column_count"]
    for reason in reasons.values():  # Chinese sentences, no English words left in them
        assert not re.search(r"[A-Za-z]{3,}", reason.replace("bonus", "")), reason
    # English keeps its own sentences; the specifics are there for programs too.
    en_reasons = {p["code"]: p["reason"] for p in en["problems"]}
    assert en_reasons["amount_precision"] == "Amounts have at most two decimals (fen)."
    assert {p["code"]: p["params"] for p in en["problems"]}["amount_precision"]["value"] == "12.345"


@pytest.mark.parametrize(("data", "code", "line"), [
    ("phone,name,amount,category\r\n13900000001,李小明,100,salary\r\n".encode("utf-16"), "encoding_unsupported", 1),
    (b"phone,name,amount,category\r\n13900000001,\xff\xfe\xfa,100,salary\r\n", "encoding_unreadable", 2),
    ('phone,name,amount,category\r\n13900000001,"李小明,100,salary\r\n'.encode(), "malformed_csv", 2),
    (b"phone,name,money,category\r\n", "column_unknown", 1),
    (b"phone,name,category\r\n", "columns_missing", 1),
    (b"", "file_empty", None),
    (b"phone,name,amount,category\r\n", "no_lines", None),
    (b"PK\x03\x04 not really a workbook", "xlsx_unreadable", None),
])
def test_unreadable_files_are_refused_clearly(world, data, code, line):
    resp = world.upload(data)
    assert resp.status_code == 422, resp.get_json()
    problems = resp.get_json()["problems"]
    assert (problems[0]["code"], problems[0]["line"]) == (code, line)
    assert nothing_created()


def test_the_validation_report_names_unknown_payees_name_mismatches_duplicates_and_tier_refusals(world):
    a = world.payee("李小明")
    b = world.payee("王芳", balance_fen=900_000)  # class 4: ¥9,000 held, cap ¥10,000
    c = world.payee("")  # no name on file
    rows = [[a.phone, "李晓明", "100", "salary", "三月"],  # 2: 李*明 = 李*明: matches (compared masked)
            ["13912345678", "赵六", "100", "salary", ""],  # 3: unknown payee
            [a.phone, "张小明", "100", "allowance", ""],  # 4: name mismatch
            [a.phone, "李小明", "100", "salary", "三月"],  # 5: duplicate of line 2
            [b.phone, "王芳", "800", "salary", ""],  # 6: ¥9,000 + 800 fits
            [b.phone, "王芳", "300", "subsidy", ""],  # 7: ... + 300 passes the cap: both lines flagged
            [c.phone, "陈七", "50", "reimbursement", ""]]  # 8: name unverifiable: payable, flagged
    resp = world.upload(csv_bytes(rows))
    assert resp.status_code == 201, resp.get_json()
    batch = resp.get_json()
    assert (batch["line_count"], batch["valid_count"], batch["total_fen"]) == (7, 4, 10_000 + 80_000 + 30_000 + 5_000)
    report = world.get(f"/batches/{batch['id']}/report", world.officer).get_json()
    assert report["issues"] == {"payee_unknown": 1, "name_mismatch": 1, "duplicate_line": 1}
    assert report["warnings"] == {"would_exceed_cap": 2, "name_unverified": 1}
    flagged = {ln["line_no"]: ln for ln in report["flagged"]}
    assert {n: (ln["status"], ln["issue"] or ln["warning"]) for n, ln in flagged.items()} == {
        3: ("invalid", "payee_unknown"), 4: ("invalid", "name_mismatch"), 5: ("invalid", "duplicate_line"),
        6: ("pending", "would_exceed_cap"), 7: ("pending", "would_exceed_cap"), 8: ("pending", "name_unverified")}
    assert flagged[4]["holder_masked"] == "李*明" and "李小明" not in flagged[4]["issue_detail"]
    assert "line 2" in flagged[5]["issue_detail"] and flagged[3]["phone_masked"] == "139****5678"
    assert report["batch"]["by_category"] == {
        "salary": {"count": 2, "amount_fen": 90_000, "invalid_count": 2},
        "allowance": {"count": 0, "amount_fen": 0, "invalid_count": 1},
        "subsidy": {"count": 1, "amount_fen": 30_000, "invalid_count": 0},
        "reimbursement": {"count": 1, "amount_fen": 5_000, "invalid_count": 0}}


def test_only_the_organisations_officers_upload_and_a_reference_is_used_once(world):
    a = world.payee()
    data = csv_bytes([[a.phone, "李小明", "1", "salary", ""]])
    assert world.upload(data, person=world.approver).get_json()["code"] == "not_an_officer"
    first = world.upload(data, reference="2026-03")
    again = world.upload(data, reference="2026-03")
    assert first.status_code == 201 and again.status_code == 409
    assert again.get_json()["code"] == "batch_reference_taken"
    assert again.get_json()["batch_id"] == first.get_json()["id"]
    consumer = world.factory.consumer()
    assert world.upload(data, person=consumer).status_code == 403


def test_an_oversized_upload_is_refused_before_it_is_read(world, monkeypatch):
    from payouts import views

    monkeypatch.setattr(views, "MAX_UPLOAD_BYTES", 1_000)
    a = world.payee()
    resp = world.upload(csv_bytes([[a.phone, "李小明", "1", "salary", "x" * 100]] * 20))
    assert resp.status_code == 413 and resp.get_json()["code"] == "file_too_large"
    assert nothing_created()
