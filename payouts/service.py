"""Payout use cases: organisations and members, top-up, batch upload and validation, approval, progress,
retry, cancel, close, and the reserve invariant. Each use case commits once; paying the lines is the job
in ``payouts.tasks``.

Who may do what (membership in ``payout_org_members``, on top of the ``org_staff`` role):

| action | who |
|---|---|
| register organisations, members, member-unit status | pilot office |
| see an organisation and its batches | its members, the pilot office |
| top up the corporate wallet | its members |
| upload a batch | its finance officers |
| approve or reject a batch | its approvers, never the batch's preparer |
| retry or cancel failed lines | its members |
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import BigInteger, and_, bindparam, case, cast, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from backend.auth.models import Role, User
from backend.auth.service import create_user, normalize_phone
from backend.banks.gateway import card_token, luhn_ok, mask_card
from backend.banks.models import OperatorBank
from backend.clock import utcnow
from backend.errors import Conflict, DomainError, Forbidden, NotFound, Unprocessable, ValidationFailed
from backend.extensions import db
from backend.guards import MoneyMove, MoveKind
from backend.guards import check as money_gate
from backend.ledger import service as ledger
from backend.ledger.models import Account, AccountKind
from backend.ledger.service import InsufficientFunds
from backend.wallets.models import Wallet, WalletStatus
from backend.wallets.service import card_network, get_bank, new_wallet_number
from payouts import upload as reader
from payouts.models import (
    Batch,
    BatchStatus,
    Category,
    FundTransfer,
    FundTransferStatus,
    Line,
    LineStatus,
    MemberRole,
    Organisation,
    OrgMember,
    PayeePreference,
    PayoutCode,
    Purpose,
)
from suiyuan_protocol.masking import mask_phone

L = Line.__table__
B = Batch.__table__
INSERT_CHUNK = 1000


def fen_sum(expr):
    """``SUM(expr)`` as a BIGINT, 0 when there are no rows (PostgreSQL's SUM of bigint is numeric)."""
    return cast(func.coalesce(func.sum(expr), 0), BigInteger)


# ---------------------------------------------------------------- refusals


class NotAMember(NotFound):
    """Another organisation's staff (and consumers) are told the thing does not exist."""

    code = "organisation_not_found"


class MakerChecker(Forbidden):
    code = "maker_checker"
    title = "The preparer cannot approve"


def illegal(batch: Batch, target: str) -> Conflict:
    return Conflict(f"A {batch.status} batch cannot become {target}.", code="illegal_transition",
                    status_now=batch.status)


def _run_direct(action: Callable[[], tuple[dict, int]]) -> tuple[dict, int]:
    """Run a money use case outside a request: commit on success, roll back and raise a refusal."""
    try:
        body, status = action()
    except Exception:
        db.session.rollback()
        raise
    db.session.commit()
    return body, status


# ---------------------------------------------------------------- organisations and members


def _check_account_number(number: str, field: str = "bank_account_number") -> str:
    digits = (number or "").replace(" ", "")
    if not (12 <= len(digits) <= 19) or not luhn_ok(digits):
        raise ValidationFailed("Not a valid bank account number (Luhn check failed).", field=field)
    return digits


def create_org(user: User, args: dict) -> Organisation:
    """Register a paying organisation with a corporate wallet at ``bank_code``; commit; return it.

    Raises ``ValidationFailed`` (uscc, bank_code, bank_account_number) or ``Conflict`` (``uscc_taken``).
    """
    from backend.merchants.uscc import validate_uscc

    uscc = validate_uscc(args["uscc"])
    bank = get_bank(args["bank_code"])
    number = _check_account_number(args["bank_account_number"])
    org = Organisation(
        name=args["name"].strip(), kind=args["kind"], uscc=uscc, district=args.get("district"),
        member_unit=args.get("member_unit", False), bank_id=bank.id,
        account_id=ledger.open_account(AccountKind.CORPORATE), wallet_number=new_wallet_number(),
        bank_account_token=card_token(number), bank_account_masked=mask_card(number),
        created_by_user_id=user.id, created_at=utcnow(),
    )
    db.session.add(org)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("An organisation with this unified social credit code is registered.", code="uscc_taken",
                       field="uscc") from None
    return org


def update_org(user: User, org_id: int, args: dict) -> Organisation:
    """The pilot office changes an organisation's name, district or member-unit status; commit; return it."""
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotAMember("No such organisation.")
    for key in ("name", "district", "member_unit"):
        if key in args:
            setattr(org, key, args[key].strip() if key == "name" else args[key])
    db.session.commit()
    return org


def role_in(user: User, org_id: int) -> str | None:
    """Return the user's role in the organisation (officer/approver), or None."""
    if user.role != Role.ORG_STAFF:
        return None
    return db.session.execute(
        select(OrgMember.role).where(OrgMember.org_id == org_id, OrgMember.user_id == user.id)
    ).scalar_one_or_none()


def visible_org(user: User, org_id: int) -> Organisation:
    """Return the organisation if the user is the pilot office or one of its members; else ``NotAMember``."""
    org = db.session.get(Organisation, org_id)
    if org is None or (user.role != Role.PILOT_ADMIN and role_in(user, org_id) is None):
        raise NotAMember("No such organisation (or not yours).")
    return org


def orgs_for(user: User) -> list[Organisation]:
    """The organisations the user sees: all for the pilot office, their own for staff."""
    stmt = select(Organisation).order_by(Organisation.id)
    if user.role != Role.PILOT_ADMIN:
        stmt = stmt.join(OrgMember, OrgMember.org_id == Organisation.id).where(OrgMember.user_id == user.id)
    return list(db.session.execute(stmt).scalars())


def add_member(user: User, org_id: int, args: dict) -> tuple[OrgMember, User]:
    """Make a person a finance officer or approver of the organisation; commit.

    An unknown phone gets a new ``org_staff`` account (``password`` needed). Raises
    ``Conflict`` (``not_org_staff``: the phone belongs to a consumer or other role;
    ``already_member``) or ``ValidationFailed``.
    """
    org = db.session.get(Organisation, org_id)
    if org is None:
        raise NotAMember("No such organisation.")
    phone = normalize_phone(args["phone"])
    person = db.session.execute(select(User).where(User.phone == phone)).scalar_one_or_none()
    if person is None:
        if not args.get("password"):
            raise ValidationFailed("A new staff account needs an initial password.", field="password")
        person = create_user(phone, args["password"], Role.ORG_STAFF, display_name=args.get("display_name", ""))
    elif person.role != Role.ORG_STAFF:
        raise Conflict("This phone belongs to an account that is not organisation staff; use another phone.",
                       code="not_org_staff", field="phone")
    member = OrgMember(org_id=org.id, user_id=person.id, role=args["role"], created_at=utcnow())
    db.session.add(member)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise Conflict("This person is already a member of the organisation.", code="already_member",
                       field="phone") from None
    return member, person


def members_of(org_id: int) -> list:
    return list(db.session.execute(
        select(OrgMember.user_id, OrgMember.role, User.phone, User.display_name)
        .join(User, User.id == OrgMember.user_id).where(OrgMember.org_id == org_id).order_by(OrgMember.id)
    ))


def org_balance(org: Organisation) -> int:
    return ledger.balance(org.account_id)


def topup(user: User, org_id: int, amount_fen: int, reference: str) -> ledger.Posted:
    """Fund the corporate wallet from the organisation's account at its operator bank (inside
    ``idempotency.run`` with external effects). Raises ``CardDeclined`` and the ledger's errors."""
    org = visible_org(user, org_id)
    if role_in(user, org_id) is None:
        raise Forbidden("Only the organisation's own staff top up its wallet.", code="not_a_member")
    money_gate(MoneyMove(MoveKind.TOPUP, amount_fen, actor_user_id=user.id))  # before the bank is asked
    bank = db.session.get(OperatorBank, org.bank_id)
    bank_ref = f"org-topup:{org.id}:{user.id}:{reference}"
    card_network().debit(bank.code, org.bank_account_token, amount_fen, bank_ref)
    try:
        return ledger.transfer(bank.issuance_account_id, org.account_id, amount_fen, PayoutCode.TOPUP,
                               actor_user_id=user.id, memo=f"payouts:org:{org.id}:topup")
    except Exception as exc:
        card_network().credit(bank.code, org.bank_account_token, amount_fen, bank_ref + ":void")
        if isinstance(exc, DomainError):
            raise
        raise Unprocessable("The top-up could not be completed; the bank debit was reversed. Try again with a "
                            "new Idempotency-Key.", code="topup_voided", status=503) from exc


# ---------------------------------------------------------------- payee preferences


def preference(user: User) -> PayeePreference | None:
    return db.session.get(PayeePreference, user.id)


def set_preference(user: User, overflow_to_bank: bool) -> PayeePreference:
    """Switch the overflow to the linked bank account on or off; commit. Switching on needs a wallet with a
    linked card or account (``no_linked_card``)."""
    wallet = db.session.execute(select(Wallet).where(Wallet.user_id == user.id)).scalar_one_or_none()
    if wallet is None:
        raise NotFound("Open a wallet first.", code="wallet_not_open")
    if overflow_to_bank and not wallet.card_token:
        raise Unprocessable("Link a bank card or account to the wallet first.", code="no_linked_card",
                            field="overflow_to_bank")
    pref = db.session.get(PayeePreference, user.id)
    if pref is None:
        pref = PayeePreference(user_id=user.id)
        db.session.add(pref)
    pref.overflow_to_bank = overflow_to_bank
    pref.updated_at = utcnow()
    db.session.commit()
    return pref


# ---------------------------------------------------------------- batches: upload and validation


def visible_batch(user: User, batch_id: int) -> tuple[Batch, str | None]:
    """Return the batch and the user's role in its organisation (None for the pilot office).

    Raises ``NotFound`` (``batch_not_found``) for anyone else: a consumer or another
    organisation's staff learn nothing about it.
    """
    batch = db.session.get(Batch, batch_id)
    if batch is None:
        raise NotFound("No such batch.", code="batch_not_found")
    if user.role == Role.PILOT_ADMIN:
        return batch, None
    role = role_in(user, batch.org_id)
    if role is None:
        raise NotFound("No such batch.", code="batch_not_found")
    return batch, role


def _file_format(filename: str | None, stream) -> str:
    name = (filename or "").lower()
    stream.seek(0)
    magic = stream.read(4)
    stream.seek(0)
    if name.endswith((".xlsx", ".xlsm")) or magic == b"PK\x03\x04":
        return "xlsx"
    if name.endswith(".xls") or magic == b"\xd0\xcf\x11\xe0":
        raise ValidationFailed("Old Excel files (.xls) are not read; save as .xlsx or CSV.", code="file_invalid",
                               field="file")
    return "csv"


def _sha256(stream) -> str:
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(reader.CHUNK):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()


def _holders(phones: list[str]) -> dict[str, object]:
    """Return phone → (user id, role, wallet id, wallet status, holder name) for a chunk of phones."""
    rows = db.session.execute(
        select(User.phone, User.id, User.role, User.display_name, Wallet.id.label("wallet_id"),
               Wallet.status, Wallet.real_name)
        .outerjoin(Wallet, Wallet.user_id == User.id).where(User.phone.in_(phones))
    ).all()
    return {r.phone: r for r in rows}


def _line_rows(batch_id: int, lines: list[reader.ParsedLine]) -> list[dict]:
    holders = _holders(sorted({ln.phone for ln in lines}))
    out = []
    for ln in lines:
        row = {"batch_id": batch_id, "line_no": ln.line_no, "phone": ln.phone, "payee_name": ln.name,
               "amount_fen": ln.amount_fen, "category": ln.category, "memo": ln.memo, "payee_user_id": None,
               "wallet_id": None, "status": LineStatus.PENDING, "issue": None, "issue_detail": None,
               "warning": None, "holder_masked": None, "wallet_fen": 0, "bank_fen": 0, "attempts": 0}
        h = holders.get(ln.phone)
        if h is None or h.role != Role.CONSUMER or h.wallet_id is None:
            row.update(status=LineStatus.INVALID, issue="payee_unknown",
                       issue_detail=f"No e-CNY wallet is registered to {mask_phone(ln.phone)}.")
            out.append(row)
            continue
        row.update(payee_user_id=h.id, wallet_id=h.wallet_id)
        holder = h.real_name or h.display_name
        masked = reader.mask_name(holder)
        row["holder_masked"] = masked
        if not masked:
            row["warning"] = "name_unverified"
        elif reader.mask_name(ln.name) != masked:
            # Compared masked: the organisation learns no more of the holder's name than 李*明.
            row.update(status=LineStatus.INVALID, issue="name_mismatch",
                       issue_detail=f"The wallet holder is {masked}, not {reader.mask_name(ln.name)}.")
        elif h.status != WalletStatus.ACTIVE:
            row["warning"] = "wallet_frozen"
        out.append(row)
    return out


def _mark_duplicates(batch_id: int) -> None:
    """Lines repeating an earlier line (same phone, amount, category and memo) are invalid: a double payment."""
    memo = func.coalesce(L.c.memo, "")
    firsts = (
        select(L.c.phone, L.c.amount_fen, L.c.category, memo.label("m"), func.min(L.c.line_no).label("first_no"))
        .where(L.c.batch_id == batch_id)
        .group_by(L.c.phone, L.c.amount_fen, L.c.category, memo)
        .having(func.count() > 1)
        .subquery()
    )
    dups = db.session.execute(
        select(L.c.id, firsts.c.first_no)
        .join(firsts, and_(firsts.c.phone == L.c.phone, firsts.c.amount_fen == L.c.amount_fen,
                           firsts.c.category == L.c.category, firsts.c.m == func.coalesce(L.c.memo, "")))
        .where(L.c.batch_id == batch_id, L.c.line_no > firsts.c.first_no)
    ).all()
    if dups:
        db.session.execute(
            update(L).where(L.c.id == bindparam("lid")).values(
                status=LineStatus.INVALID, issue="duplicate_line", issue_detail=bindparam("detail")),
            [{"lid": d.id, "detail": f"Repeats line {d.first_no} (same payee, amount, category and memo)."}
             for d in dups],
        )


def _mark_cap_warnings(batch_id: int) -> None:
    """Warn on lines the payee's wallet tier would refuse: their sum would pass the balance cap. Where the payee
    has switched the overflow to the bank on (and has a linked account), the excess will go there instead."""
    per_wallet = (
        select(L.c.wallet_id, fen_sum(L.c.amount_fen).label("incoming"))
        .where(L.c.batch_id == batch_id, L.c.status == LineStatus.PENDING)
        .group_by(L.c.wallet_id).subquery()
    )
    over = db.session.execute(
        select(per_wallet.c.wallet_id, Wallet.card_token, PayeePreference.overflow_to_bank)
        .join(Wallet, Wallet.id == per_wallet.c.wallet_id)
        .join(Account, Account.id == Wallet.account_id)
        .outerjoin(PayeePreference, PayeePreference.user_id == Wallet.user_id)
        .where(Account.balance_cap_fen.is_not(None),
               Account.balance_fen + per_wallet.c.incoming > Account.balance_cap_fen)
    ).all()
    by_warning: dict[str, list[int]] = {}
    for o in over:
        warning = "overflow_to_bank" if o.overflow_to_bank and o.card_token else "would_exceed_cap"
        by_warning.setdefault(warning, []).append(o.wallet_id)
    for warning, wallet_ids in by_warning.items():
        # One set-based UPDATE per kind (an UPDATE per payee would scan the batch's lines once per payee).
        db.session.execute(
            update(L).where(L.c.batch_id == batch_id, L.c.wallet_id.in_(wallet_ids),
                            L.c.status == LineStatus.PENDING, L.c.warning.is_(None))
            .values(warning=warning))


def upload(user: User, org_id: int, stream, filename: str | None, reference: str, title: str) -> Batch:
    """Read a batch file, validate every line and store the batch with its report; commit; return it.

    The file streams through in chunks of ``INSERT_CHUNK`` lines. A file with form
    errors (encoding, quoting, header, amounts, phones, categories) raises
    ``FileRefused`` with every problem's line number, and nothing is created. Lines
    that are well-formed but unpayable (unknown payee, name mismatch, duplicate)
    are stored as invalid, with the reason, and are never reserved.
    Raises ``Forbidden`` (``not_an_officer``), ``Conflict`` (``batch_reference_taken``).
    """
    visible_org(user, org_id)
    if role_in(user, org_id) != MemberRole.OFFICER:
        raise Forbidden("Only the organisation's finance officers prepare batches.", code="not_an_officer")
    taken = db.session.execute(
        select(Batch.id).where(Batch.org_id == org_id, Batch.reference == reference)).scalar_one_or_none()
    if taken is not None:
        raise Conflict("This organisation already has a batch with this reference; it was not uploaded again.",
                       code="batch_reference_taken", field="reference", batch_id=taken)
    file_format = _file_format(filename, stream)
    digest = _sha256(stream)
    problems = reader.FileProblems([])
    lines, encoding = reader.read_lines(stream, file_format, problems)
    batch = Batch(org_id=org_id, reference=reference, title=title, status=BatchStatus.VALIDATED,
                  file_name=(filename or "")[:120] or None, file_format=file_format, file_encoding=encoding,
                  file_sha256=digest, line_count=0, valid_count=0, total_fen=0, returned_fen=0,
                  created_by_user_id=user.id, created_at=utcnow())
    db.session.add(batch)
    db.session.flush()
    buffer: list[reader.ParsedLine] = []
    count = 0
    try:
        for line in lines:
            count += 1
            if problems.count:
                continue  # keep reading to report every problem; nothing will be kept
            buffer.append(line)
            if len(buffer) >= INSERT_CHUNK:
                db.session.execute(insert(L), _line_rows(batch.id, buffer))
                buffer.clear()
        if problems.count:
            raise reader._refuse(problems)
        if count == 0:
            problems.add(None, None, "no_lines", "The file has a header but no lines to pay.")
            raise reader._refuse(problems)
        if buffer:
            db.session.execute(insert(L), _line_rows(batch.id, buffer))
        _mark_duplicates(batch.id)
        _mark_cap_warnings(batch.id)
        valid, total = db.session.execute(
            select(func.count(), fen_sum(L.c.amount_fen))
            .where(L.c.batch_id == batch.id, L.c.status == LineStatus.PENDING)
        ).one()
        batch.line_count, batch.valid_count, batch.total_fen = count, valid, total
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    return batch


def list_batches(org_id: int, status: str | None, limit: int, before: int | None) -> list[Batch]:
    stmt = select(Batch).where(Batch.org_id == org_id)
    if status:
        stmt = stmt.where(Batch.status == status)
    if before:
        stmt = stmt.where(Batch.id < before)
    return list(db.session.execute(stmt.order_by(Batch.id.desc()).limit(limit)).scalars())


@dataclass(frozen=True)
class Progress:
    counts: dict
    amounts: dict
    wallet_fen: int
    bank_fen: int
    by_category: dict


def progress(batch_id: int) -> Progress:
    """Return the lines' counts and amounts per status, what reached wallets and banks, totals by category."""
    rows = db.session.execute(
        select(L.c.status, L.c.category, func.count(), fen_sum(L.c.amount_fen), fen_sum(L.c.wallet_fen),
               fen_sum(L.c.bank_fen))
        .where(L.c.batch_id == batch_id).group_by(L.c.status, L.c.category)
    ).all()
    counts = dict.fromkeys(LineStatus.ALL, 0)
    amounts = dict.fromkeys(LineStatus.ALL, 0)
    by_category = {c: {"count": 0, "amount_fen": 0, "invalid_count": 0} for c in Category.ALL}
    wallet_fen = bank_fen = 0
    for status, category, n, amount, wal, bank in rows:
        counts[status] += n
        amounts[status] += amount
        wallet_fen += wal
        bank_fen += bank
        if status == LineStatus.INVALID:
            by_category[category]["invalid_count"] += n
        else:
            by_category[category]["count"] += n
            by_category[category]["amount_fen"] += amount
    return Progress(counts, amounts, wallet_fen, bank_fen, by_category)


def report_counts(batch_id: int) -> tuple[dict, dict]:
    """Return (invalid lines per issue code, lines per warning code) of a batch."""
    issues = dict(db.session.execute(
        select(L.c.issue, func.count()).where(L.c.batch_id == batch_id, L.c.status == LineStatus.INVALID)
        .group_by(L.c.issue)).all())
    warnings = dict(db.session.execute(
        select(L.c.warning, func.count()).where(L.c.batch_id == batch_id, L.c.warning.is_not(None))
        .group_by(L.c.warning)).all())
    return issues, warnings


def lines(batch_id: int, *, status: str | None = None, flagged: bool = False, after_line: int = 0,
          limit: int = 100) -> list:
    """Return a page of lines by line number (``flagged``: only invalid, failed or warned ones)."""
    stmt = select(L).where(L.c.batch_id == batch_id, L.c.line_no > after_line)
    if status:
        stmt = stmt.where(L.c.status == status)
    if flagged:
        stmt = stmt.where((L.c.status.in_((LineStatus.INVALID, LineStatus.FAILED))) | L.c.warning.is_not(None))
    return list(db.session.execute(stmt.order_by(L.c.line_no).limit(limit)))


# ---------------------------------------------------------------- approval, rejection


def approve(user: User, batch_id: int, expected_total_fen: int, expected_line_count: int, render,
            *, run=_run_direct) -> tuple[dict, int]:
    """Approve a validated batch: reserve its total from the organisation's wallet into a new batch account
    and move it to processing; the caller then enqueues ``tasks.run_batch``. Returns ``run``'s result.

    The approver restates the control totals they saw (sum and number of payable
    lines), so what is approved is what was reviewed. Refusals: ``NotFound``,
    ``Forbidden`` (``not_an_approver``, ``maker_checker``), ``Conflict``
    (``illegal_transition``, ``control_total_mismatch``), ``Unprocessable``
    (``nothing_to_pay``, ``insufficient_funds``: the batch stays validated).
    """
    batch, role = visible_batch(user, batch_id)
    if role != MemberRole.APPROVER:
        raise Forbidden("Only the organisation's approvers approve batches.", code="not_an_approver")
    if batch.created_by_user_id == user.id:
        raise MakerChecker("The person who prepared a batch can never approve it.")

    def action():
        db.session.refresh(batch)
        if batch.status != BatchStatus.VALIDATED:
            raise illegal(batch, BatchStatus.PROCESSING)
        if batch.valid_count == 0:
            raise Unprocessable("The batch has no payable lines.", code="nothing_to_pay")
        if (expected_total_fen, expected_line_count) != (batch.total_fen, batch.valid_count):
            raise Conflict("The control totals differ from the batch's payable lines.",
                           code="control_total_mismatch", total_fen=batch.total_fen, line_count=batch.valid_count)
        money_gate(MoneyMove(MoveKind.PAYOUT, batch.total_fen, actor_user_id=user.id))
        org = db.session.get(Organisation, batch.org_id)
        account_id = ledger.open_account(AccountKind.PAYOUT)
        try:
            reserve = ledger.transfer(org.account_id, account_id, batch.total_fen, PayoutCode.RESERVE,
                                      memo=f"payouts:batch:{batch.id}:reserve", actor_user_id=user.id,
                                      limited=False)
        except InsufficientFunds as exc:
            raise Unprocessable("The organisation's wallet does not hold the batch total; top it up first.",
                                code="insufficient_funds", total_fen=batch.total_fen,
                                balance_fen=exc.extra.get("balance_fen")) from None
        moved = db.session.execute(
            update(B).where(B.c.id == batch.id, B.c.status == BatchStatus.VALIDATED)
            .values(status=BatchStatus.PROCESSING, account_id=account_id, reserve_transfer_id=reserve.id,
                    approved_by_user_id=user.id, approved_at=reserve.created_at)
        ).rowcount
        if moved != 1:
            raise illegal(batch, BatchStatus.PROCESSING)
        db.session.flush()
        db.session.refresh(batch)
        return render(batch), 200

    return run(action)


def reject(user: User, batch_id: int, reason: str) -> Batch:
    """An approver refuses a validated batch; nothing moves; commit."""
    batch, role = visible_batch(user, batch_id)
    if role != MemberRole.APPROVER:
        raise Forbidden("Only the organisation's approvers reject batches.", code="not_an_approver")
    moved = db.session.execute(
        update(B).where(B.c.id == batch.id, B.c.status == BatchStatus.VALIDATED)
        .values(status=BatchStatus.REJECTED, rejected_by_user_id=user.id, rejected_at=utcnow(),
                reject_reason=reason[:200])
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise illegal(batch, BatchStatus.REJECTED)
    db.session.commit()
    db.session.refresh(batch)
    return batch


# ---------------------------------------------------------------- failed lines: retry, cancel; closing


def _member(user: User, batch_id: int) -> Batch:
    batch, role = visible_batch(user, batch_id)
    if role is None:
        raise Forbidden("Only the organisation's staff act on its batches.", code="not_a_member")
    return batch


def _failed_ids_filter(batch_id: int, line_ids: list[int] | None):
    cond = [L.c.batch_id == batch_id, L.c.status == LineStatus.FAILED]
    if line_ids is not None:
        cond.append(L.c.id.in_(line_ids))
    return and_(*cond)


def retry(user: User, batch_id: int, line_ids: list[int] | None) -> int:
    """Put failed lines (all, or ``line_ids``) back to pending and the batch back to processing; commit;
    return how many. The caller enqueues ``tasks.run_batch``."""
    batch = _member(user, batch_id)
    if batch.status not in (BatchStatus.REVIEW, BatchStatus.PROCESSING):
        raise illegal(batch, BatchStatus.PROCESSING)
    n = db.session.execute(
        update(L).where(_failed_ids_filter(batch_id, line_ids))
        .values(status=LineStatus.PENDING, issue=None, issue_detail=None)
    ).rowcount
    if n == 0:
        db.session.rollback()
        raise Conflict("No failed lines to retry.", code="no_failed_lines")
    db.session.execute(update(B).where(B.c.id == batch_id, B.c.status.in_(BatchStatus.sources_of(
        BatchStatus.PROCESSING))).values(status=BatchStatus.PROCESSING))
    db.session.commit()
    return n


def cancel(user: User, batch_id: int, line_ids: list[int] | None) -> int:
    """Give up failed lines (all, or ``line_ids``); if nothing is left to pay, close the batch (the
    reserve's leftover returns to the organisation). Commit; return how many were cancelled."""
    batch = _member(user, batch_id)
    if batch.status not in (BatchStatus.REVIEW, BatchStatus.PROCESSING):
        raise illegal(batch, "cancelled lines")
    n = db.session.execute(
        update(L).where(_failed_ids_filter(batch_id, line_ids)).values(status=LineStatus.CANCELLED)
    ).rowcount
    if n == 0:
        db.session.rollback()
        raise Conflict("No failed lines to cancel.", code="no_failed_lines")
    db.session.commit()
    finish(batch_id)
    return n


def finish(batch_id: int) -> str:
    """Settle a batch whose job has nothing pending: to review if lines failed, else close it (returning the
    reserve's leftover, the cancelled lines' money, to the organisation). Safe to run twice; commits;
    returns the batch's status."""
    batch = db.session.get(Batch, batch_id)
    db.session.refresh(batch)
    if batch.status not in (BatchStatus.PROCESSING, BatchStatus.REVIEW):
        return batch.status
    counts = dict(db.session.execute(
        select(L.c.status, func.count()).where(L.c.batch_id == batch_id,
                                               L.c.status.in_((LineStatus.PENDING, LineStatus.FAILED)))
        .group_by(L.c.status)).all())
    if counts.get(LineStatus.PENDING):
        return batch.status
    if counts.get(LineStatus.FAILED):
        db.session.execute(update(B).where(B.c.id == batch_id, B.c.status == BatchStatus.PROCESSING)
                           .values(status=BatchStatus.REVIEW))
        db.session.commit()
        return BatchStatus.REVIEW
    now = utcnow()
    moved = db.session.execute(
        update(B).where(B.c.id == batch_id, B.c.status.in_(BatchStatus.sources_of(BatchStatus.CLOSED)))
        .values(status=BatchStatus.CLOSED, closed_at=now)
    ).rowcount
    if moved != 1:
        db.session.rollback()
        return db.session.get(Batch, batch_id).status
    leftover = ledger.balance(batch.account_id)
    if leftover:
        org = db.session.get(Organisation, batch.org_id)
        back = ledger.transfer(batch.account_id, org.account_id, leftover, PayoutCode.RETURN,
                               memo=f"payouts:batch:{batch_id}:return", limited=False)
        db.session.execute(update(B).where(B.c.id == batch_id)
                           .values(returned_fen=leftover, return_transfer_id=back.id))
    db.session.commit()
    return BatchStatus.CLOSED


# ---------------------------------------------------------------- the invariant


def check_reserves() -> list[str]:
    """The payout invariant for ``flask ledger verify``; return violations (empty = sound).

    For every approved batch: its account holds exactly the amounts of its
    reserved lines not yet paid (pending, failed, cancelled) minus what went
    back to the organisation at close; the reserve equals the sum of the
    payable lines; a paid line's parts (wallet + bank) add up to its amount; a
    closed batch's account is empty.
    """
    unpaid = fen_sum(case((L.c.status.in_(LineStatus.UNPAID_RESERVED), L.c.amount_fen), else_=0))
    payable = fen_sum(case((L.c.status != LineStatus.INVALID, L.c.amount_fen), else_=0))
    parts_wrong = func.sum(case((and_(L.c.status == LineStatus.PAID,
                                      L.c.wallet_fen + L.c.bank_fen != L.c.amount_fen), 1), else_=0))
    sums = (select(L.c.batch_id, unpaid.label("unpaid"), payable.label("payable"),
                   func.coalesce(parts_wrong, 0).label("parts_wrong"))
            .group_by(L.c.batch_id).subquery())
    rows = db.session.execute(
        select(B.c.id, B.c.status, B.c.total_fen, B.c.returned_fen, Account.balance_fen, sums.c.unpaid,
               sums.c.payable, sums.c.parts_wrong)
        .join(Account, Account.id == B.c.account_id)
        .join(sums, sums.c.batch_id == B.c.id)
        .where(B.c.status.in_(BatchStatus.RESERVED))
    ).all()
    problems = []
    for r in rows:
        if r.balance_fen != r.unpaid - r.returned_fen:
            problems.append(f"payout batch {r.id}: account holds {r.balance_fen} fen but its unpaid reserved lines "
                            f"less returns are {r.unpaid - r.returned_fen} fen")
        if r.payable != r.total_fen:
            problems.append(f"payout batch {r.id}: reserved {r.total_fen} fen but its payable lines sum to "
                            f"{r.payable} fen")
        if r.parts_wrong:
            problems.append(f"payout batch {r.id}: {r.parts_wrong} paid lines whose wallet and bank parts "
                            "do not add up to the line")
        if r.status == BatchStatus.CLOSED and r.balance_fen != 0:
            problems.append(f"payout batch {r.id}: closed but its account still holds {r.balance_fen} fen")
    return problems


# ---------------------------------------------------------------- payees: pay slips


def payslips(user: User, *, before: int | None = None, limit: int = 20, line_id: int | None = None) -> list:
    """Return the consumer's payout lines of approved batches (paid, failed, pending), newest first: the pay
    slips (organisation, category, memo, amount, parts, time) and the notices of lines that could not be paid."""
    stmt = (
        select(L.c.id, L.c.amount_fen, L.c.category, L.c.memo, L.c.status, L.c.issue, L.c.issue_detail,
               L.c.wallet_fen, L.c.bank_fen, L.c.paid_at, L.c.transfer_id, B.c.title, B.c.approved_at,
               Organisation.name.label("org_name"))
        .join(B, B.c.id == L.c.batch_id).join(Organisation, Organisation.id == B.c.org_id)
        .where(L.c.payee_user_id == user.id, B.c.status.in_(BatchStatus.RESERVED),
               L.c.status.in_((LineStatus.PAID, LineStatus.FAILED, LineStatus.PENDING)))
    )
    if line_id is not None:
        stmt = stmt.where(L.c.id == line_id)
    if before is not None:
        stmt = stmt.where(L.c.id < before)
    return list(db.session.execute(stmt.order_by(L.c.id.desc()).limit(limit)))


# ---------------------------------------------------------------- public-fund transfers between organisations

F = FundTransfer.__table__


def create_fund_transfer(user: User, org_id: int, args: dict) -> FundTransfer:
    """An officer of the paying organisation prepares a transfer to another organisation; nothing moves until
    one of its approvers (never the preparer) approves. Commit; return it.

    Raises ``Forbidden`` (``not_an_officer``), ``ValidationFailed`` (``to_org_id``: unknown or the same).
    """
    visible_org(user, org_id)
    if role_in(user, org_id) != MemberRole.OFFICER:
        raise Forbidden("Only the organisation's finance officers prepare transfers.", code="not_an_officer")
    to_org = db.session.get(Organisation, args["to_org_id"])
    if to_org is None or to_org.id == org_id:
        raise ValidationFailed("Name another registered organisation.", field="to_org_id")
    ft = FundTransfer(from_org_id=org_id, to_org_id=to_org.id, amount_fen=args["amount_fen"],
                      purpose_code=args["purpose_code"], memo=args.get("memo"), status=FundTransferStatus.PENDING,
                      created_by_user_id=user.id, created_at=utcnow())
    db.session.add(ft)
    db.session.commit()
    return ft


def visible_fund_transfer(user: User, ft_id: int) -> tuple[FundTransfer, str | None]:
    """Return the transfer and the user's role in the paying organisation (None: the receiving side or the
    pilot office). Anyone else gets ``NotFound`` (``fund_transfer_not_found``)."""
    ft = db.session.get(FundTransfer, ft_id)
    if ft is None:
        raise NotFound("No such transfer.", code="fund_transfer_not_found")
    if user.role == Role.PILOT_ADMIN:
        return ft, None
    role = role_in(user, ft.from_org_id)
    if role is None and role_in(user, ft.to_org_id) is None:
        raise NotFound("No such transfer.", code="fund_transfer_not_found")
    return ft, role


def approve_fund_transfer(user: User, ft_id: int, *, run=_run_direct) -> tuple[dict, int]:
    """An approver of the paying organisation, not its preparer, approves: the money moves from its corporate
    wallet to the receiver's (``public_funds``) in the same transaction. Returns ``run``'s result.

    Refusals: ``Forbidden`` (``not_an_approver``, ``maker_checker``), ``Conflict``
    (``illegal_transition``), ``Unprocessable`` (``insufficient_funds``: stays pending).
    """
    ft, role = visible_fund_transfer(user, ft_id)
    if role != MemberRole.APPROVER:
        raise Forbidden("Only the paying organisation's approvers approve its transfers.", code="not_an_approver")
    if ft.created_by_user_id == user.id:
        raise MakerChecker("The person who prepared a transfer can never approve it.")

    def action():
        db.session.refresh(ft)
        if ft.status != FundTransferStatus.PENDING:
            raise Conflict(f"A {ft.status} transfer cannot be approved.", code="illegal_transition")
        money_gate(MoneyMove(MoveKind.PAYOUT, ft.amount_fen, actor_user_id=user.id))
        src, dst = (db.session.get(Organisation, i) for i in (ft.from_org_id, ft.to_org_id))
        try:
            posted = ledger.transfer(src.account_id, dst.account_id, ft.amount_fen, PayoutCode.PUBLIC_FUNDS,
                                     memo=f"{Purpose.LABELS[ft.purpose_code][0]} · {src.name} → {dst.name}"[:140],
                                     actor_user_id=user.id, limited=False, batch_id=f"fund-transfer-{ft.id}")
        except InsufficientFunds as exc:
            raise Unprocessable("The organisation's wallet does not hold the amount; top it up first.",
                                code="insufficient_funds", balance_fen=exc.extra.get("balance_fen")) from None
        moved = db.session.execute(
            update(F).where(F.c.id == ft.id, F.c.status == FundTransferStatus.PENDING)
            .values(status=FundTransferStatus.EXECUTED, approved_by_user_id=user.id, decided_at=posted.created_at,
                    transfer_id=posted.id)
        ).rowcount
        if moved != 1:
            raise Conflict("The transfer was decided meanwhile.", code="illegal_transition")
        db.session.flush()
        db.session.refresh(ft)
        return fund_transfer_json(ft), 200

    return run(action)


def reject_fund_transfer(user: User, ft_id: int, reason: str) -> FundTransfer:
    """An approver of the paying organisation rejects a pending transfer; nothing moves; commit."""
    ft, role = visible_fund_transfer(user, ft_id)
    if role != MemberRole.APPROVER:
        raise Forbidden("Only the paying organisation's approvers reject its transfers.", code="not_an_approver")
    moved = db.session.execute(
        update(F).where(F.c.id == ft.id, F.c.status == FundTransferStatus.PENDING)
        .values(status=FundTransferStatus.REJECTED, rejected_by_user_id=user.id, decided_at=utcnow(),
                reject_reason=reason[:200])
    ).rowcount
    if moved != 1:
        db.session.rollback()
        raise Conflict(f"A {ft.status} transfer cannot be rejected.", code="illegal_transition")
    db.session.commit()
    db.session.refresh(ft)
    return ft


def list_fund_transfers(user: User, org_id: int | None, *, before: int | None = None, limit: int = 50) -> list:
    """Transfers of one organisation, paid or received (its members, the pilot office), or every transfer
    (the pilot office, ``org_id`` None), newest first."""
    stmt = select(FundTransfer)
    if org_id is not None:
        visible_org(user, org_id)
        stmt = stmt.where((FundTransfer.from_org_id == org_id) | (FundTransfer.to_org_id == org_id))
    elif user.role != Role.PILOT_ADMIN:
        raise Forbidden("Only the pilot office lists every transfer.", code="role_forbidden")
    if before:
        stmt = stmt.where(FundTransfer.id < before)
    return list(db.session.execute(stmt.order_by(FundTransfer.id.desc()).limit(limit)).scalars())


def fund_transfer_json(ft: FundTransfer) -> dict:
    names = dict(db.session.execute(select(Organisation.id, Organisation.name)
                                    .where(Organisation.id.in_((ft.from_org_id, ft.to_org_id)))).all())
    zh, en = Purpose.LABELS[ft.purpose_code]
    from backend.clock import as_utc

    def iso(value):
        return value.isoformat() if value else None

    return {"id": ft.id, "from_org": {"id": ft.from_org_id, "name": names[ft.from_org_id]},
            "to_org": {"id": ft.to_org_id, "name": names[ft.to_org_id]}, "amount_fen": ft.amount_fen,
            "purpose_code": ft.purpose_code, "purpose_zh": zh, "purpose_en": en, "memo": ft.memo,
            "status": ft.status, "created_by_user_id": ft.created_by_user_id,
            "approved_by_user_id": ft.approved_by_user_id, "created_at": iso(as_utc(ft.created_at)),
            "decided_at": iso(as_utc(ft.decided_at)), "reject_reason": ft.reject_reason,
            "transfer_id": ft.transfer_id}


# ---------------------------------------------------------------- member units tracker (pilot office)


def member_units(*, member_units_only: bool = True) -> list[dict]:
    """Per organisation: scenarios landed (payout categories paid at least once, and public-fund transfers
    made), payees and how many of them have an e-CNY wallet now, what was paid; for the pilot office."""
    orgs = list(db.session.execute(select(Organisation).where(Organisation.member_unit.is_(True))
                                   if member_units_only else select(Organisation)).scalars())
    paid = dict(((r.org_id, r.category), (r.n, r.fen)) for r in db.session.execute(
        select(B.c.org_id, L.c.category, func.count().label("n"), fen_sum(L.c.amount_fen).label("fen"))
        .join(B, B.c.id == L.c.batch_id).where(L.c.status == LineStatus.PAID).group_by(B.c.org_id, L.c.category)))
    payees = (select(B.c.org_id, L.c.phone).join(B, B.c.id == L.c.batch_id).distinct().subquery())
    reach = {r.org_id: (r.payees, r.with_wallet) for r in db.session.execute(
        select(payees.c.org_id, func.count().label("payees"), func.count(Wallet.id).label("with_wallet"))
        .select_from(payees).outerjoin(User, User.phone == payees.c.phone)
        .outerjoin(Wallet, Wallet.user_id == User.id).group_by(payees.c.org_id))}
    F_ = FundTransfer.__table__
    sent = dict(db.session.execute(
        select(F_.c.from_org_id, fen_sum(F_.c.amount_fen)).where(F_.c.status == FundTransferStatus.EXECUTED)
        .group_by(F_.c.from_org_id)).all())
    out = []
    for org in orgs:
        categories = [c for c in Category.ALL if (org.id, c) in paid]
        scenarios = [*categories, *(["public_funds"] if sent.get(org.id) else [])]
        n_payees, with_wallet = reach.get(org.id, (0, 0))
        out.append({
            "org_id": org.id, "name": org.name, "kind": org.kind, "district": org.district,
            "member_unit": org.member_unit, "scenarios_landed": len(scenarios), "scenarios": scenarios,
            "target_met": len(scenarios) >= 1, "payees": n_payees, "payee_wallets_opened": with_wallet,
            "lines_paid": sum(paid[(org.id, c)][0] for c in categories),
            "paid_fen": sum(paid[(org.id, c)][1] for c in categories),
            "public_funds_sent_fen": sent.get(org.id, 0),
        })
    return out


#: The member units section of the periodic report: (key, 中文, English, unit) of each column after the name.
REPORT_COLUMNS = (
    ("district", "所在区", "District", ""),
    ("scenarios_landed", "已落地场景", "Scenarios landed", "count"),
    ("target_met", "达标（≥1）", "Target met (≥1)", "yes/no"),
    ("payees", "发放对象", "Payees", "people"),
    ("payee_wallets_opened", "已开钱包", "Wallets opened", "people"),
    ("lines_paid", "已发笔数", "Lines paid", "count"),
    ("paid_fen", "已发金额", "Paid", "fen"),
    ("public_funds_sent_fen", "公款划出", "Public funds sent", "fen"),
)


def report_section(zone_id: int, day_from, day_to) -> dict:
    """The periodic report's section (``backend.hooks.register_report_section``): each member unit of the
    leading group, whether it has landed a scenario and how many of its staff opened a wallet. City-wide and
    as of the report's building (member units are not zones), the same in every zone's report."""
    units = member_units()
    return {
        "key": "member_units", "title_zh": "领导小组成员单位落地情况", "title_en": "Leading-group member units",
        "note_zh": f"全市，截至报告生成时；{sum(u['target_met'] for u in units)} / {len(units)} 个成员单位已落地"
                   "至少一个数字人民币场景（工资、津贴、补贴、报销或公款划转）。",
        "note_en": "City-wide, as of the report's building; the plan's target is at least one e-CNY scenario "
                   "(salary, allowance, subsidy, reimbursement or public-fund transfer) per member unit.",
        "columns": [{"key": "name", "zh": "成员单位", "en": "Member unit", "unit": ""},
                    *({"key": k, "zh": zh, "en": en, "unit": unit} for k, zh, en, unit in REPORT_COLUMNS)],
        "rows": [[u["name"], *(u[k] for k, *_ in REPORT_COLUMNS)] for u in units],
    }
