"""Demo data of ``make run``: a paying organisation (越秀区财政局) with a finance officer and an approver,
its corporate wallet funded, and one validated salary batch to the demo consumers waiting for approval.
Idempotent: a second run finds them and does nothing."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from backend.auth.models import Role, User
from backend.auth.service import create_user
from backend.banks.gateway import card_token, mask_card
from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.wallets.service import new_wallet_number
from payouts.models import Organisation, OrgMember, PayoutCode

ORG_USCC = "11440104006952170L"
ORG_NAME = "越秀区财政局"
ORG_OPENING_FEN = 100_000_000  # ¥1,000,000
OFFICER = ("13300000001", "张会计 Zhang (finance officer)")
APPROVER = ("13300000002", "王处长 Wang (approver)")
#: payee phone (the core's demo consumers), amount in yuan, category, memo
DEMO_LINES = (
    ("13800000001", "3850.50", "salary", "三月工资"),
    ("13800000002", "1200.00", "allowance", "交通补贴"),
    ("13800000003", "680.00", "subsidy", "数字人民币试点补贴"),
)


def seed_demo(users_by_phone: dict, managers: dict) -> list[str]:
    """Create the demo organisation, its staff, its funded wallet and a batch awaiting approval; return what
    was done (nothing when it exists)."""
    from backend.seed import DEMO_PASSWORD
    from payouts import service

    if db.session.execute(select(Organisation.id).where(Organisation.uscc == ORG_USCC)).first():
        return []
    bank = db.session.execute(select(OperatorBank).where(OperatorBank.code == "ICBC")).scalar_one()
    pilot = next(u for u in users_by_phone.values() if u.role == Role.PILOT_ADMIN)
    org = Organisation(name=ORG_NAME, kind="department", uscc=ORG_USCC, district="越秀区", member_unit=True,
                       bank_id=bank.id, account_id=ledger.open_account(AccountKind.CORPORATE),
                       wallet_number=new_wallet_number(), bank_account_token=card_token("6222020200000000025"),
                       bank_account_masked=mask_card("6222020200000000025"), created_by_user_id=pilot.id,
                       created_at=utcnow())
    db.session.add(org)
    db.session.flush()
    ledger.transfer(bank.issuance_account_id, org.account_id, ORG_OPENING_FEN, PayoutCode.TOPUP,
                    memo=f"payouts:org:{org.id}:topup")
    staff = {}
    for (phone, name), role in ((OFFICER, "officer"), (APPROVER, "approver")):
        user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none() or \
            create_user(phone, DEMO_PASSWORD, Role.ORG_STAFF, display_name=name)
        db.session.add(OrgMember(org_id=org.id, user_id=user.id, role=role, created_at=utcnow()))
        staff[role] = user
    db.session.commit()
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["手机号", "姓名", "金额", "类别", "备注"])
    for phone, amount, category, memo in DEMO_LINES:
        payee = users_by_phone.get(phone)
        if payee is not None:
            writer.writerow([phone, payee.display_name, amount, category, memo])
    batch = service.upload(staff["officer"], org.id, io.BytesIO(buf.getvalue().encode("utf-8-sig")),
                           "2026-03-工资.csv", "DEMO-2026-03", "三月工资及补贴")
    return [f"paying organisation {ORG_NAME} (¥{ORG_OPENING_FEN // 100:,})",
            f"finance officer {OFFICER[0]}, approver {APPROVER[0]}",
            f"payout batch {batch.id}: {batch.valid_count} lines awaiting approval"]
