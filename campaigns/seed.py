"""Demo data of ``make run``: a funder for the pilot office and one live grab red-packet campaign
in Yongqingfang. Idempotent: a second run finds them and does nothing."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select

from backend.auth.models import Role, User
from backend.auth.service import create_user
from backend.banks.gateway import card_token, mask_card
from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant
from backend.wallets.identity import hash_identity, id_check_char, mask_id_number
from backend.wallets.models import Wallet
from backend.wallets.service import new_wallet_number
from campaigns.eligibility import merchant_zone_ids, placement_table
from campaigns.models import Campaign, Funder

FUNDER_PHONE = "13500000009"
FUNDER_NAME = "永庆坊促消费专项资金"
FUNDER_OPENING_FEN = 10_000_000  # ¥100,000
DEMO_CAMPAIGN = "永庆坊开街红包 Yongqingfang opening red packets"
TEA_HOUSE_USCC = "91440103MA59XK2J4W"


def _funder_wallet(password: str) -> tuple[Wallet, list[str]]:
    done = []
    user = db.session.execute(select(User).where(User.phone == FUNDER_PHONE)).scalar_one_or_none()
    if user is None:
        user = create_user(FUNDER_PHONE, password, Role.CONSUMER, display_name="试点办促消费资金")
        done.append(f"funder user {FUNDER_PHONE}")
    wallet = db.session.execute(select(Wallet).where(Wallet.user_id == user.id)).scalar_one_or_none()
    if wallet is None:
        # A class-1 wallet (opened in person at the bank: no limits), as an institution's would be.
        bank = db.session.execute(select(OperatorBank).where(OperatorBank.code == "ICBC")).scalar_one()
        first17 = "44010320200101001"
        number = first17 + id_check_char(first17)
        account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[1])
        wallet = Wallet(user_id=user.id, bank_id=bank.id, account_id=account_id, wallet_number=new_wallet_number(),
                        wallet_class=1, opened_at=utcnow(), real_name="广州市试点工作办公室",
                        id_number_masked=mask_id_number(number),
                        id_number_hash=hash_identity(current_app.config["SECRET_KEY"], number),
                        bank_account_masked="6222 **** **** 0001", card_token=card_token("6222020200000000017"),
                        card_masked=mask_card("6222020200000000017"))
        db.session.add(wallet)
        db.session.flush()
        ledger.transfer(bank.issuance_account_id, account_id, FUNDER_OPENING_FEN, TransferCode.TOPUP)
        done.append(f"funder wallet ¥{FUNDER_OPENING_FEN // 100:,}")
    return wallet, done


def seed_demo(users_by_phone: dict, managers: dict) -> list[str]:
    """Create the demo funder and a live Yongqingfang red-packet campaign, if missing; return what was done."""
    from backend.seed import DEMO_PASSWORD
    from campaigns import service
    from zones.models import Zone

    if db.session.execute(select(Campaign.id).where(Campaign.name == DEMO_CAMPAIGN)).first():
        return []
    wallet, done = _funder_wallet(DEMO_PASSWORD)
    funder = db.session.execute(select(Funder).where(Funder.wallet_id == wallet.id)).scalar_one_or_none()
    if funder is None:
        funder = Funder(name=FUNDER_NAME, wallet_id=wallet.id, zone_id=None, created_at=utcnow())
        db.session.add(funder)
        done.append("campaign funder")
    db.session.commit()
    pilot = next(u for u in users_by_phone.values() if u.role == Role.PILOT_ADMIN)
    zone = db.session.execute(select(Zone).where(Zone.code == "yongqingfang")).scalar_one()
    tea_house = db.session.execute(select(Merchant.id).where(Merchant.uscc == TEA_HOUSE_USCC)).scalar_one_or_none()
    if tea_house and placement_table() is not None and merchant_zone_ids([tea_house]).get(tea_house) != zone.id:
        tea_house = None  # not placed in the zone (yet): let every merchant of the zone accept it
    now = utcnow()
    campaign = service.create(pilot, {
        "name": DEMO_CAMPAIGN, "kind": "grab", "split": "random", "funder_id": funder.id, "zone_ids": [zone.id],
        "merchant_ids": [tea_house] if tea_house else [], "packet_count": 100, "budget_fen": 88_800,
        "device_cap": 1, "claim_starts_at": now - timedelta(minutes=1), "claim_ends_at": now + timedelta(days=30),
        "spend_ends_at": now + timedelta(days=60),
    })
    service.launch(pilot, campaign.id, lambda c: {})
    done.append(f"live campaign {campaign.id}: 100 red packets, ¥888.00, Yongqingfang")
    return done
