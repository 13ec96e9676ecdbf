"""Reference data (operator banks, zones) and the demo data of ``make run``.

Both are idempotent: running them again reuses what exists.
"""

from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from backend.auth.models import Role, User
from backend.auth.service import create_user
from backend.banks.models import OPERATOR_BANKS, OperatorBank
from backend.clock import utcnow
from backend.extensions import db
from backend.hooks import seeders
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.merchants.models import Merchant, MerchantStatus

DEMO_PASSWORD = "Suiyuan2026"

#: phone, role, display name (a person's name, one language: the console shows it as written), bank code
DEMO_USERS = (
    ("13800000001", Role.CONSUMER, "李小明", None),
    ("13800000002", Role.CONSUMER, "陈美玲", None),
    ("13800000003", Role.CONSUMER, "王建国", None),
    ("13900000001", Role.MERCHANT_OWNER, "黄老板", None),
    ("13900000002", Role.MERCHANT_OWNER, "周老板", None),
    ("13900000003", Role.MERCHANT_OWNER, "梁教练", None),
    ("13700000001", Role.BANK_REVIEWER, "工行审核员", "ICBC"),
    ("13700000002", Role.BANK_REVIEWER, "中行审核员", "BOC"),
    ("13600000001", Role.ZONE_MANAGER, "永庆坊管理员", None),
    ("13600000002", Role.ZONE_MANAGER, "天河路管理员", None),
    ("13500000001", Role.PILOT_ADMIN, "试点办", None),
)

#: zone manager phone → the zone codes they manage (assigned by the zones plug-in's demo seeder)
DEMO_ZONE_MANAGERS = {
    "13600000001": ("yongqingfang",),
    "13600000002": ("tianhelu", "gifc"),
}

#: owner phone, Chinese name, English name, USCC, MCC, scenario, address, lat, lon, bank
DEMO_MERCHANTS = (
    ("13900000001", "永庆坊茶居", "Yongqingfang Tea House", "91440103MA59XK2J4W", "5814", "food",
     "广州市荔湾区恩宁路永庆坊", 23.1184, 113.2446, "ICBC"),
    ("13900000002", "北京路云吞面", "Beijing Rd Wonton Noodles", "91440104MA5CTQ1L26", "5812", "food",
     "广州市越秀区北京路步行街", 23.1250, 113.2690, "BOC"),
    ("13900000003", "越秀力量健身", "Yuexiu Strength Gym", "91440104MA5D8GYM03", "7997", "entertainment",
     "广州市越秀区北京路步行街12号", 23.1252, 113.2688, "ICBC"),
)

#: consumer phone, bank, linked test card, opening top-up in fen
DEMO_WALLETS = (
    ("13800000001", "ICBC", "6222020200112233446", 200_000),
    ("13800000002", "CCB", "6217000010012345677", 50_000),
    ("13800000003", "BOC", "6013820000123456787", 0),
)


def seed_reference() -> None:
    """Insert the operator banks (each with an issuance account), then the plug-ins' reference data
    (the plan's zones), if missing."""
    existing = set(db.session.execute(select(OperatorBank.code)).scalars())
    for code, name_zh, name_en in OPERATOR_BANKS:
        if code not in existing:
            account_id = ledger.open_account(AccountKind.ISSUANCE)
            db.session.add(OperatorBank(code=code, name_zh=name_zh, name_en=name_en, issuance_account_id=account_id))
    db.session.commit()
    for seeder in seeders(current_app, "reference"):
        seeder()


def _bank(code: str) -> OperatorBank:
    return db.session.execute(select(OperatorBank).where(OperatorBank.code == code)).scalar_one()


def seed_demo() -> list[str]:
    """Create the demo users, wallets and merchants of the README, if missing; return what was created."""
    from backend.banks.gateway import card_token, mask_card
    from backend.config import WALLET_TIERS
    from backend.ledger.service import TransferCode
    from backend.wallets.models import Wallet
    from backend.wallets.service import new_wallet_number

    seed_reference()
    created: list[str] = []
    users: dict[str, User] = {}
    for phone, role, name, bank_code in DEMO_USERS:
        user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
        if user is None:
            user = create_user(phone, DEMO_PASSWORD, role, display_name=name,
                               bank_id=_bank(bank_code).id if bank_code else None)
            created.append(f"{role} {phone}")
        users[phone] = user
    for phone, bank_code, card, opening_fen in DEMO_WALLETS:
        user = users[phone]
        if db.session.execute(select(Wallet.id).where(Wallet.user_id == user.id)).first():
            continue
        bank = _bank(bank_code)
        account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
        db.session.add(Wallet(user_id=user.id, bank_id=bank.id, account_id=account_id,
                              wallet_number=new_wallet_number(), wallet_class=4, opened_at=utcnow(),
                              card_token=card_token(card), card_masked=mask_card(card)))
        if opening_fen:
            ledger.transfer(bank.issuance_account_id, account_id, opening_fen, TransferCode.TOPUP)
        created.append(f"wallet of {phone}")
    for owner, zh, en, uscc, mcc, scenario, address, lat, lon, bank_code in DEMO_MERCHANTS:
        if db.session.execute(select(Merchant.id).where(Merchant.uscc == uscc)).first():
            continue
        now = utcnow()
        db.session.add(Merchant(
            owner_user_id=users[owner].id, name_zh=zh, name_en=en, uscc=uscc, mcc=mcc, scenario=scenario,
            address=address, latitude=lat, longitude=lon, bank_id=_bank(bank_code).id,
            status=MerchantStatus.APPROVED, account_id=ledger.open_account(AccountKind.MERCHANT),
            review_reason="Demo merchant, approved at seeding", created_at=now, reviewed_at=now,
        ))
        created.append(f"merchant {zh}")
    db.session.commit()
    for seeder in seeders(current_app, "demo"):
        created.extend(seeder(users, DEMO_ZONE_MANAGERS) or [])
    db.session.commit()
    return created
