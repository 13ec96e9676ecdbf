"""Factories: real rows through the real services, with overridable defaults."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

from backend.auth.models import Role, User
from backend.auth.service import create_user, issue_token
from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.config import WALLET_TIERS
from backend.extensions import db
from backend.ledger import service as ledger
from backend.ledger.models import AccountKind
from backend.ledger.service import TransferCode
from backend.merchants.models import Merchant, MerchantStatus
from backend.wallets import service as wallets
from backend.wallets.models import Wallet

PASSWORD = "Passw0rd!"
TEST_CARD = "4111111111111111"
_phones = itertools.count(1)


def next_phone() -> str:
    return f"139{next(_phones):08d}"


@dataclass
class Person:
    user: User
    token: str
    phone: str

    @property
    def id(self) -> int:
        return self.user.id

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    def __init__(self, app):
        self.app = app

    def bank(self, code: str = "ICBC") -> OperatorBank:
        return db.session.query(OperatorBank).filter_by(code=code).one()

    def user(self, role: str = Role.CONSUMER, *, phone: str | None = None, bank_code: str | None = None,
             **overrides) -> Person:
        """Return a user with a fresh bearer token."""
        phone = phone or next_phone()
        if role == Role.BANK_REVIEWER and bank_code is None:
            bank_code = "ICBC"
        user = create_user(phone, overrides.pop("password", PASSWORD), role,
                           bank_id=self.bank(bank_code).id if bank_code else None, **overrides)
        token = issue_token(user)
        db.session.commit()
        return Person(user, token, phone)

    def consumer(self, *, balance_fen: int = 0, wallet_class: int = 4, bank_code: str = "ICBC",
                 card: str | None = TEST_CARD, **overrides) -> Person:
        """Return a consumer with an open wallet of ``wallet_class`` holding ``balance_fen``."""
        person = self.user(Role.CONSUMER, **overrides)
        wallets.open_wallet(person.user, bank_code, card)
        if wallet_class <= 3:
            wallets.upgrade(person.user, 3, real_name="测试用户", id_number=_id_number(person.id))
        if wallet_class <= 2:
            wallets.upgrade(person.user, 2, bank_account_number="6222020200112233446")
        if wallet_class == 1:
            w = self.wallet(person)
            ledger.set_limits(w.account_id, WALLET_TIERS[1])
            w.wallet_class = 1
            db.session.commit()
        if balance_fen:
            self.fund(person, balance_fen)
        return person

    def wallet(self, person: Person) -> Wallet:
        return db.session.query(Wallet).filter_by(user_id=person.id).one()

    def fund(self, person: Person, amount_fen: int) -> None:
        """Issue ``amount_fen`` into the person's wallet from its bank (a top-up without a card)."""
        w = self.wallet(person)
        bank = db.session.get(OperatorBank, w.bank_id)
        ledger.transfer(bank.issuance_account_id, w.account_id, amount_fen, TransferCode.TOPUP)
        db.session.commit()

    def balance(self, person_or_account) -> int:
        db.session.expire_all()
        if isinstance(person_or_account, Person):
            return ledger.balance(self.wallet(person_or_account).account_id)
        return ledger.balance(person_or_account)

    def merchant(self, *, owner: Person | None = None, status: str = MerchantStatus.APPROVED,
                 bank_code: str = "ICBC", **overrides) -> Merchant:
        """Return a merchant (approved, with a wallet, unless ``status`` says otherwise)."""
        owner = owner or self.user(Role.MERCHANT_OWNER)
        values = dict(
            owner_user_id=owner.id, name_zh="测试茶居", name_en="Test Tea House",
            uscc=f"91440103{uuid.uuid4().hex[:10].upper()}", mcc="5814", scenario="food",
            address="广州市荔湾区恩宁路", latitude=23.1184, longitude=113.2446, bank_id=self.bank(bank_code).id,
            status=status, created_at=utcnow(),
        )
        values.update(overrides)
        if status == MerchantStatus.APPROVED and "account_id" not in values:
            values["account_id"] = ledger.open_account(AccountKind.MERCHANT)
        merchant = Merchant(**values)
        db.session.add(merchant)
        db.session.commit()
        return merchant


def _id_number(seed: int) -> str:
    """Return a valid 18-character resident ID (GB 11643 check digit) unique to ``seed``."""
    from backend.wallets.identity import id_check_char

    first17 = f"440103199001{seed % 28 + 1:02d}{seed % 1000:03d}"
    return first17 + id_check_char(first17)
