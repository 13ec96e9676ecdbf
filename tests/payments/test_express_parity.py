"""Refusal parity of the express lane: every refusal ``POST /payments`` can give answers the same, byte for byte,
with the PostgreSQL express lane (backend/payments/express.py) enabled as on the general path alone.

The express lane only ever says yes and hands everything else to the general path; these tests hold it to
that for every refusal code the general path has. The codes are not a hand-kept list: they are read from the
code the endpoint runs (``refusal_codes``), so a refusal rule added to the general path fails
``test_every_refusal_code_of_the_payment_path_has_a_parity_case`` until it gets a case here.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import types
from datetime import timedelta

import pytest
from sqlalchemy import update

from backend import idempotency
from backend.auth.models import Role
from backend.clock import local_today, utcnow
from backend.errors import DomainError
from backend.extensions import db
from backend.ledger.models import Account
from backend.merchants.models import Merchant, MerchantStatus
from backend.payments import express, keys
from backend.payments import service as payments
from backend.payments.models import Order
from backend.wallets import paypass
from backend.wallets.models import Wallet, WalletStatus
from suiyuan_protocol import codec
from tests.payments.helpers import PROBLEM, new_order, ok, open_shop, pay, static_payload
from tests.payments.test_refusals import (
    damaged_crc,
    forged_under_our_kid,
    garbage,
    signed_by_unknown_key,
    swapped_merchant,
    tampered_amount,
    unsigned,
)

AMOUNT = 5_000


def refusal_codes(*roots, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """Return ``{code: where}`` for every ``DomainError`` the functions ``roots`` can raise, following the calls
    they make into other functions of ``backend`` (by name or ``module.name``; not into modules ``skip``):
    the refusal codes of a path."""
    seen: set = set()
    codes: dict[str, str] = {}

    def resolve(node, names):
        if isinstance(node, ast.Name):
            return names.get(node.id)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            base = names.get(node.value.id)
            return getattr(base, node.attr, None) if isinstance(base, types.ModuleType) else None
        return None

    def walk(fn):
        fn = inspect.unwrap(fn)
        if fn in seen or not fn.__module__.startswith("backend.") or fn.__module__.startswith(skip):
            return
        seen.add(fn)
        for node in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(fn)))):
            if not isinstance(node, ast.Call):
                continue
            target = resolve(node.func, fn.__globals__)
            if isinstance(target, type) and issubclass(target, DomainError):
                given = {k.arg: k.value for k in node.keywords}
                code = given["code"].value if "code" in given else target.code
                codes.setdefault(code, f"{fn.__module__}.{fn.__name__}")
            elif inspect.isfunction(target):
                walk(target)

    for root in roots:
        walk(root)
    return codes


#: Codes on the path that no request can provoke, and why (each is tested where it can happen).
UNREACHABLE = {
    "same_account": "a consumer's wallet account is never a merchant's account",
    "account_not_found": "accounts are never deleted and wallets and merchants point at theirs",
    "concurrent_update": "only a transfer whose row changed between its refusal and the explanation (a race)",
    "idempotency_key_in_use": "only a key committed without an outcome, which idempotency.run never does",
}


# ---------------------------------------------------------------- one case per refusal


def _resign(text: str, **changes) -> str:
    """Return ``text`` with ``changes``, signed again with our own key: genuine, but naming what we say."""
    kid, private = keys.signing_key()
    return codec.sign(dataclasses.replace(codec.parse(text), signature=None, **changes), kid, private)


def _order(api, factory, amount_fen: int = AMOUNT, shop=None):
    shop = shop or open_shop(factory)
    return shop, new_order(api, shop.owner, shop.merchant_id, amount_fen)


def _rich(factory, **kw):
    return factory.consumer(balance_fen=100_000, **kw)


def _forged(forge):
    def case(api, factory):
        _, order = _order(api, factory)
        return pay(api, _rich(factory), forge(order["payload"], factory.merchant().id))
    return case


def _not_ours(api, factory):
    _, order = _order(api, factory)
    accounts = codec.parse(order["payload"]).merchant_accounts
    return pay(api, _rich(factory), _resign(order["payload"],
                                            merchant_accounts={"26": {**accounts["26"], "00": "com.example.pay"}}))


def _merchant_not_found(api, factory):
    _, order = _order(api, factory)
    accounts = codec.parse(order["payload"]).merchant_accounts
    return pay(api, _rich(factory), _resign(order["payload"], merchant_accounts={
        "26": {**accounts["26"], "01": payments.merchant_number(999_999_999)}}))


def _merchant_not_active(api, factory):
    shop, order = _order(api, factory)
    db.session.execute(update(Merchant).where(Merchant.id == shop.merchant_id).values(status=MerchantStatus.SUSPENDED))
    db.session.commit()
    return pay(api, _rich(factory), order["payload"])


def _order_not_found(api, factory):
    _, order = _order(api, factory)
    return pay(api, _rich(factory), _resign(order["payload"], additional={
        **codec.parse(order["payload"]).additional, "05": "SY0000000000000000"}))


def _order_already_paid(api, factory):
    _, order = _order(api, factory)
    ok(pay(api, _rich(factory), order["payload"]), 201)
    return pay(api, _rich(factory), order["payload"])


def _order_expired(api, factory):
    _, order = _order(api, factory)
    # Expired in the database, so both lanes (each reading its own clock) see it.
    db.session.execute(update(Order).where(Order.id == order["id"]).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    return pay(api, _rich(factory), order["payload"])


def _order_cancelled(api, factory):
    shop, order = _order(api, factory)
    ok(api.post(f"/orders/{order['id']}/cancel", shop.owner))
    return pay(api, _rich(factory), order["payload"])


def _wallet_not_open(api, factory):
    _, order = _order(api, factory)
    return pay(api, factory.user(Role.CONSUMER), order["payload"])


def _wallet_frozen(api, factory):
    _, order = _order(api, factory)
    payer = _rich(factory)
    db.session.execute(update(Wallet).where(Wallet.user_id == payer.id).values(status=WalletStatus.FROZEN))
    db.session.commit()
    return pay(api, payer, order["payload"])


def _amount_not_allowed(api, factory):
    _, order = _order(api, factory)
    return pay(api, _rich(factory), order["payload"], amount_fen=AMOUNT + 1)


def _amount_required(api, factory):
    shop = open_shop(factory)
    return pay(api, _rich(factory), static_payload(api, shop.owner, shop.merchant_id))


def _static_qr_daily_cap(api, factory):
    shop = open_shop(factory)
    return pay(api, _rich(factory), static_payload(api, shop.owner, shop.merchant_id), amount_fen=50_001)


def _insufficient_funds(api, factory):
    _, order = _order(api, factory)
    return pay(api, factory.consumer(balance_fen=AMOUNT - 1), order["payload"])


def _limit_single(api, factory):
    _, order = _order(api, factory, amount_fen=200_001)  # a class-4 wallet pays at most ¥2,000 at once
    return pay(api, factory.consumer(balance_fen=900_000), order["payload"])


def _spent_already(factory, payer, **values) -> None:
    db.session.execute(update(Account).where(Account.id == factory.wallet(payer).account_id).values(**values))
    db.session.commit()


def _limit_day(api, factory):
    _, order = _order(api, factory)
    payer = factory.consumer(balance_fen=900_000)
    _spent_already(factory, payer, spend_day=local_today(), day_spent_fen=500_000 - AMOUNT + 1)
    return pay(api, payer, order["payload"])


def _limit_year(api, factory):
    _, order = _order(api, factory)
    payer = factory.consumer(balance_fen=900_000)
    _spent_already(factory, payer, spend_year=local_today().year, year_spent_fen=5_000_000 - AMOUNT + 1)
    return pay(api, payer, order["payload"])


def _payee_limit_exceeded(api, factory):
    shop, order = _order(api, factory)
    db.session.execute(update(Account).where(Account.id == shop.account_id).values(balance_cap_fen=AMOUNT - 1))
    db.session.commit()
    return pay(api, _rich(factory), order["payload"])


def _key_missing(api, factory):
    _, order = _order(api, factory)
    return api.post("/payments", _rich(factory), json={"payload": order["payload"]})


def _key_invalid(api, factory):
    _, order = _order(api, factory)
    return pay(api, _rich(factory), order["payload"], key="x" * 256)


def _key_reused(api, factory):
    shop, first = _order(api, factory)
    payer = _rich(factory)
    ok(pay(api, payer, first["payload"], key="till-1"), 201)
    _, second = _order(api, factory, shop=shop)
    return pay(api, payer, second["payload"], key="till-1")


def _replayed_refusal(api, factory):
    """A refusal recorded under a key is answered again, the same, on the retry."""
    _, order = _order(api, factory)
    payer = factory.consumer(balance_fen=AMOUNT - 1)
    first = pay(api, payer, order["payload"], key="retry-1")
    factory.fund(payer, AMOUNT)  # could pay now, but the key's answer stands
    again = pay(api, payer, order["payload"], key="retry-1")
    assert again.get_data() == first.get_data()
    return again


PAY_PASSWORD = "258369"
OVER_FREE_LIMIT = 150_000  # above the default password-free limit (¥1,000), within a class-4 wallet's ¥2,000


def _with_password(factory):
    payer = factory.consumer(balance_fen=900_000)
    paypass.set_initial(factory.wallet(payer), PAY_PASSWORD)
    db.session.commit()
    return payer


def _password_required(api, factory):
    """Above the password-free limit without the password: the one-call lane's statement leaves it (it asks the
    same two columns as ``paypass.require``) and the general path asks for the password."""
    _, order = _order(api, factory, amount_fen=OVER_FREE_LIMIT)
    return pay(api, _with_password(factory), order["payload"])


def _password_wrong(api, factory):
    _, order = _order(api, factory, amount_fen=OVER_FREE_LIMIT)
    return api.post("/payments", _with_password(factory), json={"payload": order["payload"],
                                                                 "payment_password": "147036"}, money=True)


def _password_locked(api, factory):
    _, order = _order(api, factory, amount_fen=OVER_FREE_LIMIT)
    payer = _with_password(factory)
    for _ in range(5):
        api.post("/payments", payer, json={"payload": order["payload"], "payment_password": "147036"}, money=True)
    return pay(api, payer, order["payload"])


def _validation_failed(api, factory):
    return api.post("/payments", _rich(factory), json={"payload": ""}, money=True)


#: (case name, the code it must produce, the case). Several cases may produce one code.
CASES = [
    ("qr_amount_tampered", "qr_amount_tampered", _forged(tampered_amount)),
    ("qr_merchant_mismatch", "qr_merchant_mismatch", _forged(swapped_merchant)),
    ("qr_unknown_key", "qr_unknown_key", _forged(signed_by_unknown_key)),
    ("qr_bad_signature", "qr_bad_signature", _forged(forged_under_our_kid)),
    ("qr_unsigned", "qr_unsigned", _forged(unsigned)),
    ("qr_crc_mismatch", "qr_crc_mismatch", _forged(damaged_crc)),
    ("qr_malformed", "qr_malformed", _forged(garbage)),
    ("qr_not_ours", "qr_not_ours", _not_ours),
    ("merchant_not_found", "merchant_not_found", _merchant_not_found),
    ("merchant_not_active", "merchant_not_active", _merchant_not_active),
    ("order_not_found", "order_not_found", _order_not_found),
    ("order_already_paid", "order_already_paid", _order_already_paid),
    ("order_expired", "order_expired", _order_expired),
    ("order_cancelled", "order_cancelled", _order_cancelled),
    ("wallet_not_open", "wallet_not_open", _wallet_not_open),
    ("wallet_frozen", "wallet_frozen", _wallet_frozen),
    ("amount_not_allowed", "amount_not_allowed", _amount_not_allowed),
    ("amount_required", "amount_required", _amount_required),
    ("static_qr_daily_cap", "static_qr_daily_cap", _static_qr_daily_cap),
    ("insufficient_funds", "insufficient_funds", _insufficient_funds),
    ("limit_single", "limit_exceeded", _limit_single),
    ("limit_day", "limit_exceeded", _limit_day),
    ("limit_year", "limit_exceeded", _limit_year),
    ("payee_limit_exceeded", "payee_limit_exceeded", _payee_limit_exceeded),
    ("idempotency_key_missing", "idempotency_key_missing", _key_missing),
    ("idempotency_key_invalid", "idempotency_key_invalid", _key_invalid),
    ("idempotency_key_reused", "idempotency_key_reused", _key_reused),
    ("replayed_refusal", "insufficient_funds", _replayed_refusal),
    ("validation_failed", "validation_failed", _validation_failed),
    ("payment_password_required", "payment_password_required", _password_required),
    ("payment_password_wrong", "payment_password_wrong", _password_wrong),
    ("payment_password_locked", "payment_password_locked", _password_locked),
]
#: Refused before the one-call lane is asked: a request that sends the payment password goes down the general
#: path (the lane never verifies passwords).
NOT_ASKED = {"idempotency_key_missing", "idempotency_key_invalid", "validation_failed", "payment_password_wrong"}


def test_every_refusal_code_of_the_payment_path_has_a_parity_case(app):
    from backend.payments import views

    # Who may call (backend.auth: token, role) is decided before the view, for both lanes alike.
    on_path = refusal_codes(views.pay, payments.pay_scanned, idempotency.request_key, idempotency.run,
                            skip=("backend.auth.",))
    assert len(on_path) >= 25, on_path  # the walk follows calls across modules (sanity)
    covered = {code for _, code, _ in CASES}
    missing = set(on_path) - covered - set(UNREACHABLE)
    assert not missing, f"refusals of POST /payments without a parity case: {sorted(missing)} " \
                        f"(raised in {[on_path[c] for c in sorted(missing)]})"
    assert not set(UNREACHABLE) - set(on_path), "an 'unreachable' code is no longer on the path: drop it"


@pytest.mark.parametrize(("name", "code", "case"), CASES, ids=[c[0] for c in CASES])
def test_a_refusal_answers_the_same_with_the_express_lane_on(pg_app, api, factory, monkeypatch, name, code, case):
    with monkeypatch.context() as m:
        m.setattr(express, "pay", lambda *a, **k: None)  # the general path alone
        general = case(api, factory)
    asked = []
    real_pay = express.pay

    def express_pay(*args, **kwargs):
        asked.append(args)
        return real_pay(*args, **kwargs)

    with monkeypatch.context() as m:
        m.setattr(express, "pay", express_pay)
        fast = case(api, factory)
    assert general.mimetype == PROBLEM and general.get_json()["code"] == code, general.get_data(as_text=True)
    assert (fast.status_code, fast.mimetype, dict(fast.headers)) == \
        (general.status_code, general.mimetype, dict(general.headers))
    assert fast.get_data(as_text=True) == general.get_data(as_text=True)
    if code not in NOT_ASKED:
        assert asked, "the express lane was not even asked"  # refused before the view otherwise
