"""Demo data of ``make run``: three industry regulators, the demo gym accepted for prepaid sales with three
plans, and a stored-value card bought by a demo card holder (13800000004) with one use released. Idempotent."""

from __future__ import annotations

from sqlalchemy import select

from backend.auth.models import User
from backend.clock import utcnow
from backend.extensions import db
from backend.ledger import service as ledger
from backend.merchants.models import Merchant
from backend.wallets.models import Wallet
from prepaid import service
from prepaid.models import Contract, PrepaidMerchant, PrepaidMerchantStatus

REGULATORS = (
    ("13400000001", "体育局监管员 Sports bureau", "广州市体育局", ["sports_fitness"]),
    ("13400000002", "教育局监管员 Education bureau", "广州市教育局", ["education_training"]),
    ("13400000003", "商务局监管员 Commerce bureau", "广州市商务局", ["beauty", "laundry", "others"]),
)
GYM_USCC = "91440104MA5D8GYM03"  # the demo gym of ``backend.seed.DEMO_MERCHANTS``
PLANS = (
    {"kind": "sessions", "name": "私教20节 20 personal-training sessions", "units": 20, "unit_price_fen": 15_000,
     "refund_fee_bp": 1_000},
    {"kind": "stored_value", "name": "储值1000送100 Pay ¥1,000 get ¥1,100", "price_fen": 100_000,
     "bonus_fen": 10_000, "refund_fee_bp": 500},
    {"kind": "time_pass", "name": "季卡 3-month pass", "price_fen": 90_000, "months": 3},
)


#: A consumer of the demo who holds a prepaid card (the other demo consumers keep their balances).
CARD_HOLDER = ("13800000004", "周小雨 Zhou Xiaoyu", "6222020200112233420", 150_000)


def _card_holder(password: str):
    """Create the demo card holder with a class-4 wallet at ICBC holding ¥1,500; return user and wallet."""
    from backend.auth.models import Role
    from backend.auth.service import create_user
    from backend.banks.gateway import card_token, mask_card
    from backend.banks.models import OperatorBank
    from backend.config import WALLET_TIERS
    from backend.ledger.models import AccountKind
    from backend.ledger.service import TransferCode
    from backend.wallets.service import new_wallet_number

    phone, name, card, opening_fen = CARD_HOLDER
    user = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none() or \
        create_user(phone, password, Role.CONSUMER, display_name=name)
    wallet = db.session.execute(select(Wallet).where(Wallet.user_id == user.id)).scalar_one_or_none()
    if wallet is None:
        bank = db.session.execute(select(OperatorBank).where(OperatorBank.code == "ICBC")).scalar_one()
        account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
        wallet = Wallet(user_id=user.id, bank_id=bank.id, account_id=account_id, wallet_number=new_wallet_number(),
                        wallet_class=4, opened_at=utcnow(), card_token=card_token(card), card_masked=mask_card(card))
        db.session.add(wallet)
        ledger.transfer(bank.issuance_account_id, account_id, opening_fen, TransferCode.TOPUP)
        db.session.commit()
    return user, wallet


def seed_demo(users_by_phone: dict, managers: dict) -> list[str]:
    """Create the prepaid demo, if missing; return what was done."""
    from backend.seed import DEMO_PASSWORD

    done: list[str] = []
    for phone, name, authority, industries in REGULATORS:
        if db.session.execute(select(User.id).where(User.phone == phone)).first() is None:
            service.add_regulator(phone, DEMO_PASSWORD, name, authority, industries)
            done.append(f"industry regulator {phone} ({authority})")
    gym = db.session.execute(select(Merchant).where(Merchant.uscc == GYM_USCC)).scalar_one_or_none()
    if gym is None or db.session.execute(select(PrepaidMerchant.id).where(
            PrepaidMerchant.merchant_id == gym.id)).first() is not None:
        return done
    owner = db.session.get(User, gym.owner_user_id)
    reviewer = users_by_phone["13700000001"]  # the ICBC demo reviewer approves the gym's prepaid sales
    now = utcnow()
    pm = PrepaidMerchant(merchant_id=gym.id, industry="sports_fitness", status=PrepaidMerchantStatus.APPROVED,
                         applied_by_user_id=owner.id, reviewed_by_user_id=reviewer.id, reviewed_at=now,
                         review_reason="Demo: prepaid acceptance approved at seeding", created_at=now)
    db.session.add(pm)
    db.session.commit()
    done.append(f"prepaid acceptance of {gym.name_zh}")
    plans = [service.publish_plan(owner, pm.id, dict(p)) for p in PLANS]
    done.append(f"{len(plans)} prepaid plans")
    consumer, wallet = _card_holder(DEMO_PASSWORD)
    contract = service.purchase(consumer, plans[1].id)
    service.release_units(contract, 8_800, via="scan", user_id=owner.id)
    db.session.commit()
    number = db.session.get(Contract, contract.id).number
    done.append(f"prepaid card {number} of {CARD_HOLDER[0]} (¥88.00 of value used)")
    return done
