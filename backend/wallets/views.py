"""``/wallets/me*`` and ``/transfers``."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import fields, validate

from backend import idempotency
from backend.auth.models import Role
from backend.auth.service import current_user, normalize_phone, requires
from backend.clock import as_utc
from backend.http import respond
from backend.ledger import service as ledger
from backend.schemas import Fen, Id, PageQuery, Phone, StrictSchema
from backend.wallets import paypass, service

blp = Blueprint("wallets", __name__, url_prefix="/api/v1", description="Consumer wallets and transfers")

IDEMPOTENCY_DOC = {"parameters": [{"in": "header", "name": "Idempotency-Key", "required": True,
                                   "schema": {"type": "string", "maxLength": 255}}]}
#: Transfers also take the app's device id (the risk checks' "new device" rule; payclient sends it).
TRANSFER_DOC = {"parameters": IDEMPOTENCY_DOC["parameters"] + [
    {"in": "header", "name": "X-Device-Id", "required": False, "schema": {"type": "string", "maxLength": 64},
     "description": "The app's own id of this phone: a transfer from a device the payer never used before "
                    "is a risk warning (428) where risk checks are on"},
    {"in": "header", "name": "X-Risk-Confirmation", "required": False, "schema": {"type": "string"},
     "description": "The confirmation token of a 428 `risk_confirmation_required` the payer confirmed"}]}


class OpenWalletSchema(StrictSchema):
    bank_code = fields.String(required=True, metadata={"example": "ICBC"})
    card_number = fields.String(metadata={"description": "Bank card to link for top-up (Luhn-checked)"})
    payment_password = fields.String(required=True, load_only=True, metadata={
        "description": "The payment password (支付密码): six digits, not one repeated digit or a run"})


PAYMENT_PASSWORD_FIELD = fields.String(load_default=None, load_only=True, validate=validate.Length(max=32), metadata={
    "description": "The payment password (six digits). Needed for every top-up, redemption and transfer and "
                   "for payments above the wallet's `password_free_limit_fen`, once the wallet has one; it is "
                   "not part of the Idempotency-Key's request"})


def take_password(args: dict) -> tuple[dict, str | None]:
    """Split ``payment_password`` off the arguments (it never enters the idempotency fingerprint)."""
    rest = dict(args)
    return rest, rest.pop("payment_password", None)


class PaymentPasswordSchema(StrictSchema):
    new_password = fields.String(required=True, load_only=True, metadata={"description": "Six digits"})
    current_password = fields.String(load_default=None, load_only=True, metadata={
        "description": "The current payment password; needed when one is set"})


class FreeLimitSchema(StrictSchema):
    limit_fen = fields.Integer(required=True, strict=True, metadata={
        "description": "Payments up to this need no payment password; one of "
                       + ", ".join(str(c) for c in paypass.FREE_LIMIT_CHOICES_FEN)})
    payment_password = fields.String(required=True, load_only=True)


class UpgradeSchema(StrictSchema):
    target_class = fields.Integer(required=True, strict=True, validate=validate.OneOf((2, 3)))
    real_name = fields.String(validate=validate.Length(min=1, max=64))
    id_number = fields.String(metadata={"description": "18-character resident ID (GB 11643)"})
    bank_account_number = fields.String(metadata={"description": "Own account at the operator bank (class 2)"})


class TransactionsQuery(PageQuery):
    before = Id(bits=64, strict=False, metadata={"description": "Return transfers with id below this"})
    month = fields.String(validate=validate.Regexp(r"^\d{4}-(0[1-9]|1[0-2])$"), metadata={
        "description": "Only this local month, YYYY-MM (the bill list's month filter)", "example": "2026-12"})


class AmountSchema(StrictSchema):
    amount_fen = Fen(required=True)
    payment_password = PAYMENT_PASSWORD_FIELD


class TransferSchema(StrictSchema):
    to_phone = Phone(required=True)
    amount_fen = Fen(required=True)
    memo = fields.String(validate=validate.Length(max=140), load_default=None)
    payment_password = PAYMENT_PASSWORD_FIELD


# ---------------------------------------------------------------- responses


class BankSchema(StrictSchema):
    code = fields.String(required=True)
    name_zh = fields.String(required=True)
    name_en = fields.String(required=True)


class LimitsSchema(StrictSchema):
    """The wallet class's limits in fen; null means no limit."""

    balance_cap_fen = fields.Integer(required=True, allow_none=True)
    single_payment_cap_fen = fields.Integer(required=True, allow_none=True)
    day_cap_fen = fields.Integer(required=True, allow_none=True)
    year_cap_fen = fields.Integer(required=True, allow_none=True)


class WalletSchema(StrictSchema):
    wallet_number = fields.String(required=True)
    wallet_class = fields.Integer(required=True, validate=validate.OneOf((1, 2, 3, 4)))
    status = fields.String(required=True)
    bank = fields.Nested(BankSchema, required=True)
    balance_fen = fields.Integer(required=True)
    limits = fields.Nested(LimitsSchema, required=True)
    spent_today_fen = fields.Integer(required=True)
    spent_this_year_fen = fields.Integer(required=True)
    remaining_today_fen = fields.Integer(required=True, allow_none=True)
    remaining_this_year_fen = fields.Integer(required=True, allow_none=True)
    real_name = fields.String(required=True, allow_none=True)
    id_number_masked = fields.String(required=True, allow_none=True)
    bank_account_masked = fields.String(required=True, allow_none=True)
    card_masked = fields.String(required=True, allow_none=True)
    opened_at = fields.DateTime(required=True)
    payment_password_set = fields.Boolean(required=True, metadata={
        "description": "False for wallets opened before payment passwords: the app asks the consumer to set one"})
    password_free_limit_fen = fields.Integer(required=True, metadata={
        "description": "Payments up to this need no payment password (免密)"})
    password_free_limit_choices_fen = fields.List(fields.Integer(), required=True)


class PostedSchema(StrictSchema):
    """A money move as seen from the caller's wallet."""

    transfer_id = fields.Integer(required=True)
    code = fields.String(required=True, metadata={"description": "Why the money moved (topup, redeem, transfer, …)"})
    amount_fen = fields.Integer(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(("in", "out")))
    balance_after_fen = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)


class TransferResultSchema(PostedSchema):
    to_wallet_number = fields.String(required=True)
    memo = fields.String(required=True, allow_none=True)


class HeldTransferSchema(StrictSchema):
    """A transfer accepted but held for a cooling period (a protection plug-in's answer): no money moved yet."""

    held_transfer_id = fields.Integer(required=True)
    status = fields.String(required=True)
    amount_fen = fields.Integer(required=True)
    memo = fields.String(required=True, allow_none=True)
    payee_phone_masked = fields.String(allow_none=True)
    created_at = fields.String(required=True)
    completes_at = fields.String(required=True)
    finished_at = fields.String(allow_none=True)
    transfer_id = fields.Integer(allow_none=True)
    failure_code = fields.String(allow_none=True)
    failure_detail = fields.String(allow_none=True)
    cancel_path = fields.String(allow_none=True)
    rule = fields.Dict(metadata={"description": "`code`, `title_zh`, `text_zh`, `text_en`: why it waits"})
    to_wallet_number = fields.String(required=True)
class CounterpartySchema(StrictSchema):
    kind = fields.String(required=True, metadata={
        "description": "The other account's kind: merchant, wallet, issuance (the bank), campaign, restricted, …"})
    name_zh = fields.String(required=True, allow_none=True, metadata={
        "description": "The shop (also for a refund), the bank, or the other person's name; null when unknown"})
    name_en = fields.String(required=True, allow_none=True)
    merchant_id = fields.Integer(required=True, allow_none=True)


class TransactionSchema(StrictSchema):
    transfer_id = fields.Integer(required=True)
    counterparty = fields.Nested(CounterpartySchema, required=True)
    code = fields.String(required=True)
    direction = fields.String(required=True, validate=validate.OneOf(("in", "out")))
    amount_fen = fields.Integer(required=True)
    signed_amount_fen = fields.Integer(required=True)
    counterparty_account_id = fields.Integer(required=True)
    memo = fields.String(required=True, allow_none=True)
    reverses_transfer_id = fields.Integer(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class TransactionPageSchema(StrictSchema):
    items = fields.List(fields.Nested(TransactionSchema), required=True)
    next_before = fields.Integer(required=True, allow_none=True,
                                 metadata={"description": "Pass as ?before= for the next page; null on the last"})


def wallet_json(v: service.WalletView) -> dict:
    w, lim = v.wallet, v.limits

    def remaining(cap, spent):
        return None if cap is None else max(0, cap - spent)

    return {
        "wallet_number": w.wallet_number,
        "wallet_class": w.wallet_class,
        "status": w.status,
        "bank": {"code": v.bank.code, "name_zh": v.bank.name_zh, "name_en": v.bank.name_en},
        "balance_fen": v.balance_fen,
        "limits": {
            "balance_cap_fen": lim.balance_cap_fen,
            "single_payment_cap_fen": lim.single_cap_fen,
            "day_cap_fen": lim.day_cap_fen,
            "year_cap_fen": lim.year_cap_fen,
        },
        "spent_today_fen": v.day_spent_fen,
        "spent_this_year_fen": v.year_spent_fen,
        "remaining_today_fen": remaining(lim.day_cap_fen, v.day_spent_fen),
        "remaining_this_year_fen": remaining(lim.year_cap_fen, v.year_spent_fen),
        "real_name": w.real_name,
        "id_number_masked": w.id_number_masked,
        "bank_account_masked": w.bank_account_masked,
        "card_masked": w.card_masked,
        "opened_at": as_utc(w.opened_at).isoformat(),
        "payment_password_set": w.pay_password_hash is not None,
        "password_free_limit_fen": w.password_free_limit_fen,
        "password_free_limit_choices_fen": list(paypass.FREE_LIMIT_CHOICES_FEN),
    }


def posted_json(p: ledger.Posted, outgoing: bool) -> dict:
    """A transfer as seen from the caller's wallet (the debit side if ``outgoing``): amount and balance after."""
    return {
        "transfer_id": p.id,
        "code": p.code,
        "amount_fen": p.amount_fen,
        "direction": "out" if outgoing else "in",
        "balance_after_fen": p.debit_balance_fen if outgoing else p.credit_balance_fen,
        "created_at": p.created_at.isoformat(),
    }


@blp.route("/wallets/me", methods=["GET"])
@requires(Role.CONSUMER)
@blp.response(200, WalletSchema)
def get_wallet():
    """My wallet: class, balance, limits and what is left of them today."""
    return respond(wallet_json(service.view(current_user())), 200)


@blp.route("/wallets/me", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(OpenWalletSchema)
@blp.response(201, WalletSchema)
@blp.alt_response(422, description="`validation_failed` (field `payment_password`: six digits, not trivial)")
@blp.alt_response(409, description="`wallet_exists`")
def open_wallet(args):
    """Open a class-4 wallet (phone number only) at an operator bank, with its payment password."""
    service.open_wallet(current_user(), args["bank_code"], args.get("card_number"),
                        payment_password=args["payment_password"])
    return respond(wallet_json(service.view(current_user())), 201)


@blp.route("/wallets/me/upgrade", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(UpgradeSchema)
@blp.response(200, WalletSchema)
def upgrade(args):
    """Upgrade to class 3 (ID document) or class 2 (own bank account)."""
    service.upgrade(current_user(), args["target_class"], real_name=args.get("real_name"),
                    id_number=args.get("id_number"), bank_account_number=args.get("bank_account_number"))
    return respond(wallet_json(service.view(current_user())), 200)


@blp.route("/wallets/me/payment-password", methods=["PUT"])
@requires(Role.CONSUMER)
@blp.arguments(PaymentPasswordSchema)
@blp.response(200, WalletSchema)
@blp.alt_response(403, description="`payment_password_required` or `payment_password_wrong` (field "
                                   "`current_password`, with `attempts_left`)")
@blp.alt_response(404, description="`wallet_not_open`")
@blp.alt_response(422, description="`validation_failed` (field `new_password`: six digits, not trivial)")
@blp.alt_response(429, description="`payment_password_locked` (Retry-After)")
def set_payment_password(args):
    """Set my payment password (支付密码), or change it with the current one."""
    paypass.change(current_user(), args["new_password"], args["current_password"])
    return respond(wallet_json(service.view(current_user())), 200)


@blp.route("/wallets/me/password-free-limit", methods=["PUT"])
@requires(Role.CONSUMER)
@blp.arguments(FreeLimitSchema)
@blp.response(200, WalletSchema)
@blp.alt_response(403, description="`payment_password_wrong` (with `attempts_left`)")
@blp.alt_response(404, description="`wallet_not_open`")
@blp.alt_response(422, description="`validation_failed` (field `limit_fen`, with `choices_fen`), "
                                   "`payment_password_not_set`")
@blp.alt_response(429, description="`payment_password_locked` (Retry-After)")
def set_password_free_limit(args):
    """Choose how much a payment may be without the payment password (免密); 0 asks for every payment."""
    paypass.set_free_limit(current_user(), args["limit_fen"], args["payment_password"])
    return respond(wallet_json(service.view(current_user())), 200)


def _money_move(args, action, *, outgoing: bool, external_effects: bool = False) -> tuple[dict, int]:
    """Run a wallet money move under the Idempotency-Key; ``outgoing``: the caller's wallet is debited."""
    user = current_user()
    key = idempotency.request_key()

    def run():
        posted, extra = action(user, key)
        body = posted_json(posted, outgoing)
        body.update(extra)
        return body, 201

    return idempotency.run(user.id, args, run, external_effects=external_effects)


@blp.route("/wallets/me/topup", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(AmountSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, PostedSchema)
@blp.alt_response(403, description="`payment_password_required` (with `password_free_limit_fen`), "
                                   "`payment_password_wrong` (with `attempts_left`)")
@blp.alt_response(429, description="`payment_password_locked`: too many wrong payment passwords (Retry-After)")
def topup(args):
    """Top up from the linked bank card through the wallet's operator bank (idempotent; payment password)."""
    args, password = take_password(args)
    paypass.require(current_user(), args["amount_fen"], password, always=True)
    body, status = _money_move(args, lambda user, key: (service.topup(user, args["amount_fen"], key), {}),
                               outgoing=False, external_effects=True)
    return respond(body, status)


@blp.route("/wallets/me/redeem", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(AmountSchema)
@blp.doc(**IDEMPOTENCY_DOC)
@blp.response(201, PostedSchema)
@blp.alt_response(403, description="`payment_password_required` (with `password_free_limit_fen`), "
                                   "`payment_password_wrong` (with `attempts_left`)")
@blp.alt_response(429, description="`payment_password_locked`: too many wrong payment passwords (Retry-After)")
def redeem(args):
    """Redeem e-CNY back to the linked bank card (idempotent; payment password; the card is credited after
    commit)."""
    from backend.jobs import enqueue

    args, password = take_password(args)
    paypass.require(current_user(), args["amount_fen"], password, always=True)

    body, status = _money_move(args, lambda user, key: (service.redeem(user, args["amount_fen"], key), {}),
                               outgoing=True)
    if status == 201:
        # Also on a replay: if enqueueing failed the first time the client saw an error and
        # retried; the job is safe to run twice (the bank de-duplicates on the transfer id).
        enqueue(service.pay_out_redemption, body["transfer_id"])
    return respond(body, status)


@blp.route("/transfers", methods=["POST"])
@requires(Role.CONSUMER)
@blp.arguments(TransferSchema)
@blp.doc(**TRANSFER_DOC)
@blp.response(201, TransferResultSchema)
@blp.alt_response(202, schema=HeldTransferSchema, success=True,
                  description="Held for a cooling period (a large first-time transfer): nothing moved yet; it "
                              "completes at `completes_at` unless cancelled at `cancel_path`")
@blp.alt_response(403, description="`payment_password_required` (with `password_free_limit_fen`), "
                                   "`payment_password_wrong` (with `attempts_left`)")
@blp.alt_response(429, description="`payment_password_locked`: too many wrong payment passwords (Retry-After)")
def transfer(args):
    """Send money to another consumer's wallet by phone number (idempotent; payment password)."""
    # Bad input and a refused password are refused before the Idempotency-Key is recorded.
    args, password = take_password(args)
    args = {**args, "to_phone": normalize_phone(args["to_phone"], field="to_phone")}
    paypass.require(current_user(), args["amount_fen"], password, always=True)

    user = current_user()

    def run():
        posted, payee, held = service.transfer_to_phone(user, args["to_phone"], args["amount_fen"], args["memo"])
        if held is not None:
            return {**held, "to_wallet_number": payee.wallet_number}, 202
        return {**posted_json(posted, True), "to_wallet_number": payee.wallet_number, "memo": args["memo"]}, 201

    return respond(*idempotency.run(user.id, args, run))


@blp.route("/wallets/me/transactions", methods=["GET"])
@requires(Role.CONSUMER)
@blp.arguments(TransactionsQuery, location="query")
@blp.response(200, TransactionPageSchema)
def transactions(args):
    """My transactions (the bill list), newest first, each naming the other side (the shop of a payment
    or a refund, the bank of a top-up, the person of a transfer). Page with ``before=<next_before>``;
    ``month=YYYY-MM`` keeps one local month."""
    wallet = service.wallet_of(current_user())
    span = service.month_span(args["month"]) if args.get("month") else (None, None)
    rows = ledger.history(wallet.account_id, before_id=args.get("before"), limit=args["limit"] + 1,
                          created_from=span[0], created_before=span[1])
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    others = {r.credit_account_id if r.debit_account_id == wallet.account_id else r.debit_account_id
              for r in rows}
    names = service.counterparties(others)
    items = []
    for r in rows:
        outgoing = r.debit_account_id == wallet.account_id
        other = r.credit_account_id if outgoing else r.debit_account_id
        items.append({
            "transfer_id": r.id,
            "counterparty": names[other],
            "code": r.code,
            "direction": "out" if outgoing else "in",
            "amount_fen": r.amount_fen,
            "signed_amount_fen": -r.amount_fen if outgoing else r.amount_fen,
            "counterparty_account_id": r.credit_account_id if outgoing else r.debit_account_id,
            "memo": r.memo,
            "reverses_transfer_id": r.reverses_id,
            "created_at": as_utc(r.created_at).isoformat(),
        })
    return respond({"items": items, "next_before": rows[-1].id if more and rows else None}, 200)
