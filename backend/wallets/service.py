"""Use cases of a consumer wallet. Each commits once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.banks.gateway import SimulatedCardNetwork, card_token, luhn_ok, mask_card
from backend.banks.models import OperatorBank
from backend.clock import local_today, utcnow
from backend.config import WALLET_TIERS, TierLimits
from backend.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable, ValidationFailed
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind, post_or_hold
from backend.guards import check as money_gate
from backend.guards import confirm as confirm_move
from backend.jobs import with_app
from backend.ledger import service as ledger
from backend.ledger.models import Account, AccountKind
from backend.ledger.service import TransferCode
from backend.wallets.identity import hash_identity, mask_id_number, validate_id_number
from backend.wallets.models import Wallet, WalletStatus


def card_network():
    """Return the card network of the app (the simulated one unless configured)."""
    return current_app.extensions.setdefault("card_network", SimulatedCardNetwork())


def get_bank(code: str) -> OperatorBank:
    """Return the operator bank with ``code``; raise ``ValidationFailed``."""
    stmt = select(OperatorBank).where(OperatorBank.code == (code or "").upper())
    bank = db.session.execute(stmt).scalar_one_or_none()
    if bank is None:
        raise ValidationFailed(f"Unknown operator bank {code!r}.", field="bank_code")
    return bank


def wallet_of(user: User) -> Wallet:
    """Return the user's wallet; raise ``NotFound`` (``wallet_not_open``)."""
    wallet = db.session.execute(select(Wallet).where(Wallet.user_id == user.id)).scalar_one_or_none()
    if wallet is None:
        raise NotFound("Open a wallet first.", code="wallet_not_open")
    return wallet


def _active_wallet_of(user: User) -> Wallet:
    wallet = wallet_of(user)
    if wallet.status != WalletStatus.ACTIVE:
        raise Forbidden("This wallet is frozen.", code="wallet_frozen")
    return wallet


def _check_card(card_number: str, field: str = "card_number") -> str:
    number = (card_number or "").replace(" ", "")
    if not (12 <= len(number) <= 19) or not luhn_ok(number):
        raise ValidationFailed("Not a valid bank card or account number (Luhn check failed).", field=field)
    return number


def new_wallet_number() -> str:
    """Return a fresh 16-digit wallet number (prefix 0021 like pilot wallets)."""
    return "0021" + "".join(secrets.choice("0123456789") for _ in range(12))


def open_wallet(user: User, bank_code: str, card_number: str | None = None, *,
                payment_password: str | None = None) -> Wallet:
    """Open a class-4 wallet (phone number only) at ``bank_code``; commit; return it.

    The API always passes ``payment_password`` (six digits, checked before anything is written);
    seed and test data may open wallets without one (see ``backend.wallets.paypass``).

    Raises ``Forbidden`` for non-consumers, ``Conflict`` (``wallet_exists``)
    when the user already has one, ``ValidationFailed`` for bad input.
    """
    if user.role != Role.CONSUMER:
        raise Forbidden("Only consumers open personal wallets.", code="role_forbidden")
    bank = get_bank(bank_code)
    number = _check_card(card_number) if card_number else None
    if payment_password is not None:
        from backend.wallets.paypass import check_format

        check_format(payment_password)
    account_id = ledger.open_account(AccountKind.WALLET, limits=WALLET_TIERS[4])
    wallet = Wallet(
        user_id=user.id, bank_id=bank.id, account_id=account_id, wallet_number=new_wallet_number(),
        wallet_class=4, status=WalletStatus.ACTIVE, opened_at=utcnow(),
        card_token=card_token(number) if number else None, card_masked=mask_card(number) if number else None,
    )
    if payment_password is not None:
        from backend.wallets.paypass import set_initial

        set_initial(wallet, payment_password)
    db.session.add(wallet)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("You already have a wallet.", code="wallet_exists") from None
    return wallet


def upgrade(user: User, target_class: int, *, real_name: str | None = None, id_number: str | None = None,
            bank_account_number: str | None = None) -> Wallet:
    """Lift the wallet to class 3 (ID document) or class 2 (own bank account); commit.

    Class 2 needs the identity of class 3 (already on file or given now) and
    an account at the wallet's operator bank, which also becomes the linked
    card. Raises ``ValidationFailed`` or ``Conflict`` (``not_an_upgrade``).
    """
    wallet = _active_wallet_of(user)
    if target_class not in (2, 3):
        raise ValidationFailed("Wallets can be upgraded online to class 3 or class 2; class 1 is opened at a branch.",
                               field="target_class")
    if target_class >= wallet.wallet_class:
        raise Conflict(f"The wallet is already class {wallet.wallet_class}.", code="not_an_upgrade")
    if wallet.id_number_hash is None:
        if not id_number:
            raise ValidationFailed("An ID number is needed to upgrade.", field="id_number")
        if not real_name or not real_name.strip():
            raise ValidationFailed("The name on the ID document is needed.", field="real_name")
        number = validate_id_number(id_number)
        wallet.real_name = real_name.strip()[:64]
        wallet.id_number_masked = mask_id_number(number)
        wallet.id_number_hash = hash_identity(current_app.config["SECRET_KEY"], number)
        try:
            db.session.flush()
        except IntegrityError:
            db.session.rollback()
            raise Conflict("This ID number already backs a verified wallet at this bank.",
                           code="identity_in_use", field="id_number") from None
    elif id_number and hash_identity(current_app.config["SECRET_KEY"], validate_id_number(id_number)) \
            != wallet.id_number_hash:
        # The verified identity on file is never replaced by a later request.
        raise Conflict("This wallet is already verified with a different ID number.", code="identity_mismatch",
                       field="id_number")
    if target_class == 2:
        if not bank_account_number:
            raise ValidationFailed("A class-2 wallet needs your own account at the operator bank.",
                                   field="bank_account_number")
        number = _check_card(bank_account_number, field="bank_account_number")
        wallet.bank_account_masked = mask_card(number)
        wallet.card_token, wallet.card_masked = card_token(number), mask_card(number)
    ledger.set_limits(wallet.account_id, WALLET_TIERS[target_class])
    wallet.wallet_class = target_class
    wallet.upgraded_at = utcnow()
    db.session.commit()
    return wallet


@dataclass(frozen=True)
class WalletView:
    wallet: Wallet
    bank: OperatorBank
    balance_fen: int
    limits: TierLimits
    day_spent_fen: int
    year_spent_fen: int


def view(user: User) -> WalletView:
    """Return the user's wallet with balance, limits and what was spent today/this year."""
    wallet = wallet_of(user)
    acct = db.session.get(Account, wallet.account_id)
    today = local_today()
    return WalletView(
        wallet=wallet,
        bank=db.session.get(OperatorBank, wallet.bank_id),
        balance_fen=acct.balance_fen,
        limits=TierLimits(acct.balance_cap_fen, acct.single_cap_fen, acct.day_cap_fen, acct.year_cap_fen),
        day_spent_fen=acct.day_spent_fen if acct.spend_day == today else 0,
        year_spent_fen=acct.year_spent_fen if acct.spend_year == today.year else 0,
    )


def _bank_and_card(wallet: Wallet) -> tuple[OperatorBank, str]:
    if not wallet.card_token:
        raise Unprocessable("Link a bank card to the wallet first.", code="no_linked_card")
    return db.session.get(OperatorBank, wallet.bank_id), wallet.card_token


def topup(user: User, amount_fen: int, reference: str) -> ledger.Posted:
    """Exchange deposit money for e-CNY: debit the linked card, issue into the wallet.

    Runs inside ``idempotency.run`` (which commits); ``reference`` is passed to
    the card network so the bank can de-duplicate a retried debit.
    Raises ``CardDeclined``, ``LimitExceeded`` (balance cap) and the like.
    """
    wallet = _active_wallet_of(user)
    bank, token = _bank_and_card(wallet)
    money_gate(MoneyMove(MoveKind.TOPUP, amount_fen, actor_user_id=user.id, to_user_id=user.id))
    # Check the cap before charging the card; the ledger checks again atomically.
    acct = db.session.get(Account, wallet.account_id)
    if acct.balance_cap_fen is not None and acct.balance_fen + amount_fen > acct.balance_cap_fen:
        raise ledger.LimitExceeded("The top-up would pass this wallet's balance limit.", limit="balance",
                                   limit_fen=acct.balance_cap_fen, code="payee_limit_exceeded")
    # The bank de-duplicates on this reference, so it names the user as well as their key.
    card_ref = f"topup:{user.id}:{reference}"
    card_network().debit(bank.code, token, amount_fen, card_ref)
    try:
        return ledger.transfer(bank.issuance_account_id, wallet.account_id, amount_fen, TransferCode.TOPUP,
                               actor_user_id=user.id)
    except Exception as exc:
        # The card was charged but no e-CNY was issued (a racing top-up took
        # the headroom, or the database failed): give the card its money back,
        # and make the refusal final so a retry with this key cannot issue
        # e-CNY against the voided debit.
        card_network().credit(bank.code, token, amount_fen, card_ref + ":void")
        if isinstance(exc, DomainError):
            raise
        raise Unprocessable("The top-up could not be completed; the card debit was reversed. Try again with "
                            "a new Idempotency-Key.", code="topup_voided", status=503) from exc


def redeem(user: User, amount_fen: int, reference: str) -> ledger.Posted:
    """Exchange e-CNY back into deposit money at the wallet's bank (runs inside ``idempotency.run``)."""
    wallet = _active_wallet_of(user)
    bank, token = _bank_and_card(wallet)
    money_gate(MoneyMove(MoveKind.REDEEM, amount_fen, actor_user_id=user.id, from_user_id=user.id))
    # The card is credited by a job after this commits (``pay_out_redemption``),
    # so a failed commit can never have paid the card.
    return ledger.transfer(wallet.account_id, bank.issuance_account_id, amount_fen, TransferCode.REDEEM,
                           actor_user_id=user.id)


@with_app
def pay_out_redemption(transfer_id: int) -> str:
    """Job: credit the linked card for a committed redemption; return the bank's reference.

    Safe to run twice: the transfer id is the reference the bank de-duplicates on.
    """
    from backend.ledger.models import Transfer

    transfer = db.session.get(Transfer, transfer_id)
    if transfer is None or transfer.code != TransferCode.REDEEM:
        raise ValueError(f"transfer {transfer_id} is not a redemption")
    wallet = db.session.execute(select(Wallet).where(Wallet.account_id == transfer.debit_account_id)).scalar_one()
    bank, token = _bank_and_card(wallet)
    return card_network().credit(bank.code, token, transfer.amount_fen, f"redeem-{transfer_id}").reference


def transfer_to_phone(user: User, to_phone: str, amount_fen: int, memo: str | None
                      ) -> tuple[ledger.Posted | None, Wallet, dict | None]:
    """Send money to another consumer's wallet (runs inside ``idempotency.run``).

    Returns the posted transfer (``None`` when held), the payee's wallet and,
    when a plug-in holds the transfer for a cooling period
    (``backend.guards.post_or_hold``), the held transfer's body. Raises
    ``NotFound`` (``payee_not_found``), ``Unprocessable`` (``same_account``),
    ``InsufficientFunds`` or ``LimitExceeded`` (payer caps, payee balance cap).
    """
    from backend.auth.service import normalize_phone

    wallet = _active_wallet_of(user)
    phone = normalize_phone(to_phone, field="to_phone")
    payee = db.session.execute(
        select(Wallet).join(User, User.id == Wallet.user_id).where(User.phone == phone)
    ).scalar_one_or_none()
    if payee is None or payee.status != WalletStatus.ACTIVE:
        raise NotFound("No active e-CNY wallet is registered to that phone number.", code="payee_not_found",
                       field="to_phone")
    move = MoneyMove(MoveKind.TRANSFER, amount_fen, actor_user_id=user.id, from_user_id=user.id,
                     to_user_id=payee.user_id, payee_phone=phone)
    money_gate(move)

    def post():
        posted = ledger.transfer(wallet.account_id, payee.account_id, amount_fen, TransferCode.TRANSFER,
                                 memo=memo, actor_user_id=user.id)
        confirm_move(move)  # risk warnings the payer must confirm, once funds and limits are known to allow it
        return posted

    posted, held = post_or_hold(move, post, memo)
    return posted, payee, held


def complete_held_transfer(payer_user_id: int, payee_user_id: int, amount_fen: int, memo: str | None) -> ledger.Posted:
    """Post a transfer a plug-in held (a cooling period) and the payer did not cancel; don't commit.

    The same rule as :func:`transfer_to_phone` at completion time: both
    wallets active, the money gate asked again (read-only, freezes), funds and
    caps checked by the ledger now. Not offered to holds again, and the
    confirmation checks are not asked again (the payer answered them when the
    transfer was accepted). Raises what :func:`transfer_to_phone` raises.
    """
    payer = db.session.execute(select(Wallet).where(Wallet.user_id == payer_user_id)).scalar_one_or_none()
    payee = db.session.execute(select(Wallet).where(Wallet.user_id == payee_user_id)).scalar_one_or_none()
    if payer is None or payer.status != WalletStatus.ACTIVE:
        raise Forbidden("This wallet is frozen.", code="wallet_frozen")
    if payee is None or payee.status != WalletStatus.ACTIVE:
        raise NotFound("The payee's wallet is no longer active.", code="payee_not_found")
    money_gate(MoneyMove(MoveKind.TRANSFER, amount_fen, actor_user_id=payer_user_id, from_user_id=payer_user_id,
                         to_user_id=payee_user_id))
    return ledger.transfer(payer.account_id, payee.account_id, amount_fen, TransferCode.TRANSFER, memo=memo,
                           actor_user_id=payer_user_id)


def month_span(month: str):
    """Return the UTC instants [start, end) of the local month ``YYYY-MM``."""
    from datetime import datetime

    from backend.clock import local_zone

    year, mon = (int(x) for x in month.split("-"))
    start = datetime(year, mon, 1, tzinfo=local_zone())
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=local_zone())
    return start, end


def counterparties(account_ids) -> dict[int, dict]:
    """Name the other side of a wallet's transfers: shops, banks, other consumers (by account id)."""
    from backend.merchants.models import Merchant

    ids = set(account_ids)
    out: dict[int, dict] = {}
    if not ids:
        return out
    for m in db.session.execute(select(Merchant).where(Merchant.account_id.in_(ids))).scalars():
        out[m.account_id] = {"kind": AccountKind.MERCHANT, "name_zh": m.name_zh, "name_en": m.name_en,
                             "merchant_id": m.id}
    for b in db.session.execute(select(OperatorBank).where(OperatorBank.issuance_account_id.in_(ids))).scalars():
        out[b.issuance_account_id] = {"kind": AccountKind.ISSUANCE, "name_zh": b.name_zh, "name_en": b.name_en,
                                      "merchant_id": None}
    people = db.session.execute(select(Wallet.account_id, User.display_name, User.phone)
                                .join(User, User.id == Wallet.user_id).where(Wallet.account_id.in_(ids)))
    for account_id, display_name, phone in people:
        masked = f"{phone[:3]}****{phone[-4:]}"
        name = display_name.strip() or masked
        out[account_id] = {"kind": AccountKind.WALLET, "name_zh": name, "name_en": name, "merchant_id": None}
    missing = ids - out.keys()
    if missing:
        for acct in db.session.execute(select(Account).where(Account.id.in_(missing))).scalars():
            out[acct.id] = {"kind": acct.kind, "name_zh": None, "name_en": None, "merchant_id": None}
    return out
