"""Demo data of ``make run``: two industry regulators, a gym accepted for prepaid sales with three plans,
and a stored-value card bought by the first demo consumer with one use released. Idempotent."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.models import Role, User
from backend.clock import utcnow
from backend.extensions import db
from backend.hooks import announce, merchant_approved
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.merchants.models import Merchant, MerchantStatus
from backend.wallets.models import Wallet
from prepaid import service
from prepaid.models import Contract, PrepaidMerchant, PrepaidMerchantStatus

REGULATORS = (
    ("13400000001", "体育局监管员 Sports bureau", "广州市体育局", ["sports_fitness"]),
    ("13400000002", "教育局监管员 Education bureau", "广州市教育局", ["education_training"]),
    ("13400000003", "商务局监管员 Commerce bureau", "广州市商务局", ["beauty", "laundry", "others"]),
)
GYM_OWNER = ("13900000003", "梁教练 Liang (gym owner)")
GYM_USCC = "91440104MA5D8GYM0X"
PLANS = (
    {"kind": "sessions", "name": "私教20节 20 personal-training sessions", "units": 20, "unit_price_fen": 15_000,
     "refund_fee_bp": 1_000},
    {"kind": "stored_value", "name": "储值1000送100 Pay ¥1,000 get ¥1,100", "price_fen": 100_000,
     "bonus_fen": 10_000, "refund_fee_bp": 500},
    {"kind": "time_pass", "name": "季卡 3-month pass", "price_fen": 90_000, "months": 3},
)


def seed_demo(users_by_phone: dict, managers: dict) -> list[str]:
    """Create the prepaid demo, if missing; return what was done."""
    from backend.seed import DEMO_PASSWORD

    done: list[str] = []
    for phone, name, authority, industries in REGULATORS:
        if db.session.execute(select(User.id).where(User.phone == phone)).first() is None:
            service.add_regulator(phone, DEMO_PASSWORD, name, authority, industries)
            done.append(f"industry regulator {phone} ({authority})")
    if db.session.execute(select(Merchant.id).where(Merchant.uscc == GYM_USCC)).first() is not None:
        return done
    from backend.auth.service import create_user

    owner = db.session.execute(select(User).where(User.phone == GYM_OWNER[0])).scalar_one_or_none() or \
        create_user(GYM_OWNER[0], DEMO_PASSWORD, Role.MERCHANT_OWNER, display_name=GYM_OWNER[1])
    reviewer = users_by_phone["13700000001"]  # the ICBC demo reviewer approves the gym
    now = utcnow()
    gym = Merchant(owner_user_id=owner.id, name_zh="越秀力量健身", name_en="Yuexiu Strength Gym", uscc=GYM_USCC,
                   mcc="7997", scenario="entertainment", address="广州市越秀区北京路步行街12号", latitude=23.1252,
                   longitude=113.2688, bank_id=reviewer.bank_id, status=MerchantStatus.APPROVED,
                   account_id=ledger.open_account(AccountKind.MERCHANT), review_reason="Demo merchant",
                   created_at=now, reviewed_at=now)
    db.session.add(gym)
    db.session.flush()
    pm = PrepaidMerchant(merchant_id=gym.id, industry="sports_fitness", status=PrepaidMerchantStatus.APPROVED,
                         applied_by_user_id=owner.id, reviewed_by_user_id=reviewer.id, reviewed_at=now,
                         review_reason="Demo: prepaid acceptance approved at seeding", created_at=now)
    db.session.add(pm)
    db.session.commit()
    announce(merchant_approved, merchant_id=gym.id)  # the zones plug-in places it
    done.append(f"prepaid gym {gym.name_zh}")
    plans = [service.publish_plan(owner, pm.id, dict(p)) for p in PLANS]
    done.append(f"{len(plans)} prepaid plans")
    consumer = users_by_phone.get("13800000001")
    wallet = consumer and db.session.execute(select(Wallet).where(Wallet.user_id == consumer.id)).scalar_one_or_none()
    if wallet is not None and ledger.balance(wallet.account_id) >= plans[1].price_fen:
        contract = service.purchase(consumer, plans[1].id)
        service.release_units(contract, 8_800, via="scan", user_id=owner.id)
        db.session.commit()
        number = db.session.get(Contract, contract.id).number
        done.append(f"prepaid card {number} of 13800000001 (¥88.00 of value used)")
    return done
