"""The Suiyuan API client used by both apps (``requests``; no Kivy, no Flask).

Every method returns a typed result (:mod:`payclient.models`) or raises
:class:`~payclient.errors.ApiError` (a problem+json refusal, by status, with
``.code``) or :class:`~payclient.errors.NetworkError`.

Money-moving POSTs (top-up, redeem, transfer, pay, charge, refund) go through
the :class:`~payclient.outbox.Outbox`: the request and its Idempotency-Key are
written down first, a dropped connection or timeout is retried with the same
key, and whatever is still unanswered can be finished later with
:meth:`ApiClient.resume_pending`. "Dropped" covers a connection reset or
closed before any answer (a server closing a kept-alive connection just as
the request goes out: "Remote end closed connection without response",
"Connection reset by peer", a broken pipe), an answer cut off half-way, and
a timeout: whether or not the server got the request, the same key makes
the retry either do the work once or replay the first answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import requests

from payclient import errors
from payclient.errors import ApiError, NetworkError
from payclient.models import (
    Bank,
    Campaign,
    CardLoad,
    Cashier,
    ClaimResult,
    DeviceRegistration,
    HardWallet,
    HeldTransfer,
    Located,
    LoginResult,
    Merchant,
    MyCoupon,
    MyRedPacket,
    Order,
    OrderEvent,
    OrdersPage,
    PaycodeDevice,
    Payment,
    Payslip,
    Posted,
    PrepaidContract,
    PrepaidPlan,
    PrepaidRelease,
    Preview,
    PublicKey,
    RefundResult,
    StaticQr,
    TransactionsPage,
    TransitRecord,
    User,
    Wallet,
    Zone,
    parse_time,
)
from payclient.outbox import Outbox, OutboxEntry
from payclient.storage import MemoryStore, MemoryTokenStore, TokenStore

__all__ = ["ApiClient", "EventStream", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "http://127.0.0.1:5000/api/v1"
_RETRY_STATUSES = {502, 503, 504}
#: 429 codes that say "busy, nothing done, send the same request again after Retry-After" (admission control).
_BUSY_CODES = {"claim_busy"}
#: 401 codes a new access token cures: the short-lived one expired, or its signing key is no longer published.
_REFRESHABLE = {"token_expired", "invalid_token"}
_NO_REFRESH = {"/auth/login", "/auth/register", "/auth/refresh"}
#: No (complete) answer: the connection failed, was reset or closed before or while answering, or timed out.
_NETWORK_ERRORS = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class ApiClient:
    """One signed-in person's view of the API.

    ``tokens`` keeps the bearer token (a file store in the apps, memory in
    tests); ``outbox`` keeps money-moving requests until they are answered;
    ``retries`` is how many times a request without an answer is sent again
    (with ``backoff_s`` doubling between tries); ``busy_retries`` how many times
    a money-moving request the server turned away as busy (429 ``claim_busy``)
    is sent again with the same Idempotency-Key, each after at least its
    ``Retry-After`` plus jitter (:meth:`busy_delay`). ``sleep`` and ``rng``
    are the clock and the dice (tests pass fakes).
    """

    def __init__(self, base_url: str = DEFAULT_BASE_URL, *, tokens: TokenStore | None = None,
                 outbox: Outbox | None = None, session: requests.Session | None = None,
                 timeout_s: float = 10.0, retries: int = 3, backoff_s: float = 0.3,
                 device_id: str | None = None, device_tokens: MemoryStore | None = None,
                 busy_retries: int = 5, busy_max_s: float = 8.0,
                 sleep: Callable[[float], None] = time.sleep, rng: Callable[[], float] = random.random):
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens or MemoryTokenStore()
        # This installation's id and, per phone number, the proof that it logged in before: with it,
        # strangers' wrong passwords never slow this device's log-in down.
        self.device_id = device_id
        self.device_tokens = device_tokens if device_tokens is not None else MemoryStore()
        self.outbox = outbox or Outbox()
        self.session = session or requests.Session()
        self.timeout_s = timeout_s
        #: The language the server writes problems in ("zh" or "en"); the apps tie it to their catalogue.
        self.language: Callable[[], str] = lambda: "en"
        self.retries = retries
        self.backoff_s = backoff_s
        self.busy_retries = busy_retries
        self.busy_max_s = busy_max_s
        self.sleep = sleep
        self.random = rng
        self._refresh_lock = threading.Lock()

    # ------------------------------------------------------------------ plumbing

    @property
    def token(self) -> str | None:
        return self.tokens.token

    @property
    def signed_in(self) -> bool:
        return bool(self.tokens.token)

    @property
    def user(self) -> User | None:
        """The user the stored token belongs to (as of log-in), or None."""
        data = self.tokens.user
        return User.from_json(data) if data else None

    def _headers(self, extra: dict | None = None) -> dict:
        headers = {"Accept": "application/json", "Accept-Language": "zh-CN" if self.language() == "zh" else "en"}
        if self.tokens.token:
            headers["Authorization"] = f"Bearer {self.tokens.token}"
        if self.device_id:
            # On every request: the server's "new device" risk rule judges transfers by it.
            headers["X-Device-Id"] = self.device_id
        headers.update(extra or {})
        return headers

    def _send(self, method: str, path: str, *, json: Any = None, params: dict | None = None,
              headers: dict | None = None, stream: bool = False, timeout: Any = None) -> requests.Response:
        """Send one request; raise ``requests`` network exceptions as they come.

        An access token that has expired is refreshed with the session's refresh token and the request sent
        once more, unseen by the caller: authentication comes before anything a request does, so the
        refused attempt did nothing (a money-moving request goes again with its own Idempotency-Key).
        """
        def send() -> requests.Response:
            return self.session.request(method, self.base_url + path, json=json, params=params,
                                        headers=self._headers(headers), stream=stream,
                                        timeout=timeout if timeout is not None else self.timeout_s)

        sent_with = self.tokens.token
        resp = send()
        if resp.status_code == 401 and sent_with and path not in _NO_REFRESH and self._refreshable(resp) \
                and self._refresh(sent_with):
            resp.close()
            resp = send()
        return resp

    @staticmethod
    def _refreshable(resp: requests.Response) -> bool:
        try:
            return resp.json().get("code") in _REFRESHABLE
        except (ValueError, AttributeError):
            return False

    def _refresh(self, expired: str) -> bool:
        """Replace the access token ``expired`` with a new one from the session's refresh token; return
        whether there is a new one (another thread may have got it first). A session that is over (logged
        out, revoked, expired) returns False and the caller sees the original 401."""
        with self._refresh_lock:
            if self.tokens.token != expired:
                return bool(self.tokens.token)
            refresh = self.tokens.refresh_token
            if not refresh:
                return False
            resp = self.session.request("POST", self.base_url + "/auth/refresh", json={"refresh_token": refresh},
                                        headers={"Accept": "application/json"}, timeout=self.timeout_s)
            if resp.status_code != 200:
                return False
            self.tokens.replace_token(resp.json()["token"])
            return True

    @staticmethod
    def _body(resp: requests.Response) -> Any:
        if resp.status_code >= 400:
            raise errors.from_response(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        ctype = resp.headers.get("Content-Type", "")
        return resp.json() if "json" in ctype else resp.content

    def _call(self, method: str, path: str, **kwargs) -> Any:
        """Send a request that moves no money (safe to repeat) and return its decoded body.

        Raises ``ApiError`` for a refusal, ``NetworkError`` when no answer came.
        """
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                resp = self._send(method, path, **kwargs)
            except _NETWORK_ERRORS as exc:
                last = exc
            else:
                if resp.status_code in _RETRY_STATUSES and attempt < self.retries and method == "GET":
                    last = errors.from_response(resp)
                else:
                    return self._body(resp)
            if method != "GET" or attempt == self.retries:
                break
            self.sleep(self.backoff_s * 2 ** attempt)
        if isinstance(last, ApiError):
            raise last
        raise NetworkError(f"Could not reach the Suiyuan server: {last}") from last

    def _owner(self) -> str | None:
        user = self.tokens.user
        return str(user["id"]) if user else None

    def _money(self, path: str, body: dict, payment_password: str | None = None) -> dict:
        """Send a money-moving POST through the outbox; return the response body.

        ``payment_password`` goes with this delivery only, never into the outbox on disk: the
        server replays a request sent again under its key without asking for it again."""
        entry = self.outbox.add("POST", path, body, owner=self._owner())
        return self.deliver(entry, payment_password=payment_password)

    def deliver(self, entry: OutboxEntry, *, payment_password: str | None = None) -> dict:
        """Send ``entry`` (again) with its own Idempotency-Key until the server answers.

        Returns the success body; raises ``ApiError`` for a refusal (recorded,
        never retried) or ``NetworkError`` (with ``pending_key``) when every try
        went unanswered; the entry then stays pending for :meth:`resume_pending`.
        """
        last: Exception | None = None
        attempt, busy = 0, 0
        while attempt <= self.retries:
            try:
                body = entry.body if not payment_password else {**entry.body, "payment_password": payment_password}
                resp = self._send(entry.method, entry.path, json=body, headers={"Idempotency-Key": entry.key})
            except _NETWORK_ERRORS as exc:
                last = exc
                self.outbox.attempt_failed(entry.key, f"{type(exc).__name__}: {exc}")
                attempt += 1
                if attempt <= self.retries:
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            if resp.status_code == 429 and self._code(resp) in _BUSY_CODES:
                # Turned away before anything was done (nothing recorded under the key): wait, then the same
                # request with the same key. Out of tries, the entry stays pending and the caller is told.
                busy += 1
                self.outbox.attempt_failed(entry.key, f"HTTP 429 {self._code(resp)}")
                if busy > self.busy_retries:
                    raise errors.from_response(resp)
                self.sleep(self.busy_delay(busy, resp.headers.get("Retry-After")))
                continue
            if resp.status_code in _RETRY_STATUSES:
                # The gateway answered, the app did not: nothing was recorded under the key.
                last = errors.from_response(resp)
                self.outbox.attempt_failed(entry.key, f"HTTP {resp.status_code}")
                attempt += 1
                if attempt <= self.retries:
                    self.sleep(self.backoff_s * 2 ** (attempt - 1))
                continue
            try:
                data = resp.json()
            except ValueError:
                data = None
            self.outbox.complete(entry.key, resp.status_code, data)
            return self._body(resp)
        raise NetworkError(f"No answer from the server; the request is kept and will be retried ({last})",
                           pending_key=entry.key) from last

    def busy_delay(self, busy: int, retry_after: str | None) -> float:
        """Seconds to wait before the ``busy``-th retry of a request the server turned away as busy.

        Never sooner than the server's ``Retry-After`` (seconds; ``backoff_s`` if absent or unreadable), doubling
        with each refusal of the same request, capped at ``busy_max_s``; then a random extra of up to as
        much again, so that a crowd refused together does not come back together.
        """
        try:
            floor = max(0.0, float(retry_after)) if retry_after is not None else self.backoff_s
        except ValueError:
            floor = self.backoff_s  # an HTTP date: not worth a clock comparison here
        base = min(max(floor, self.backoff_s) * 2 ** (busy - 1), self.busy_max_s)
        base = max(base, floor)
        return base + base * self.random()

    @staticmethod
    def _code(resp: requests.Response) -> str | None:
        try:
            body = resp.json()
        except ValueError:
            return None
        return body.get("code") if isinstance(body, dict) else None

    def resume_pending(self) -> list[tuple[OutboxEntry, dict | ApiError]]:
        """Send again every unanswered money-moving request of the signed-in user.

        Returns ``(entry, body or ApiError)`` for each one that got an answer;
        entries that still get none stay pending (no exception).
        """
        done: list[tuple[OutboxEntry, dict | ApiError]] = []
        owner = self._owner()
        if owner is None:
            return done
        for entry in self.outbox.pending(owner):
            try:
                done.append((entry, self.deliver(entry)))
            except ApiError as exc:
                done.append((entry, exc))
            except NetworkError:
                break
        return done

    # ------------------------------------------------------------------ identity

    def register(self, phone: str, password: str, *, role: str = "consumer", display_name: str = "") -> LoginResult:
        """Register and sign in; the token is stored. Raises ``RateLimited`` (registration_limited)."""
        result = LoginResult.from_json(self._call("POST", "/auth/register", headers=self._device_headers(phone), json={
            "phone": phone, "password": password, "role": role, "display_name": display_name}))
        self._remember(result)
        return result

    def login(self, phone: str, password: str) -> LoginResult:
        """Sign in; the token is stored, and ``result.user.login_alerts`` says whether strangers tried.

        Raises ``AuthError`` (bad_credentials), ``RateLimited`` (login_slowed: wait
        ``retry_after_seconds``; login_refused).
        """
        result = LoginResult.from_json(self._call("POST", "/auth/login", headers=self._device_headers(phone),
                                                  json={"phone": phone, "password": password}))
        self._remember(result)
        return result

    @staticmethod
    def _phone_key(phone: str) -> str:
        digits = "".join(ch for ch in phone if ch.isdigit())
        return digits[-11:]

    def _device_headers(self, phone: str) -> dict:
        headers = {}
        if self.device_id:
            headers["X-Device-Id"] = self.device_id
        known = self.device_tokens.load().get(self._phone_key(phone))
        if known:
            headers["X-Device-Token"] = known
        return headers

    def _remember(self, result: LoginResult) -> None:
        u = result.user
        self.tokens.save(result.token, {"id": u.id, "phone": u.phone, "role": u.role,
                                        "display_name": u.display_name, "bank_id": u.bank_id},
                         refresh_token=result.refresh_token)
        if result.device_token:
            known = self.device_tokens.load()
            known[self._phone_key(u.phone)] = result.device_token
            self.device_tokens.save(known)

    def logout(self) -> None:
        """Revoke the token on the server (best effort) and forget it here."""
        try:
            if self.tokens.token:
                self._call("POST", "/auth/logout")
        except (ApiError, NetworkError):
            pass
        finally:
            self.tokens.clear()

    def me(self) -> User:
        return User.from_json(self._call("GET", "/me"))

    # ------------------------------------------------------------------ wallets

    def banks(self) -> list[Bank]:
        return [Bank.from_json(b) for b in self._call("GET", "/banks")["items"]]

    def wallet(self) -> Wallet:
        """My wallet. Raises ``NotFoundError`` (wallet_not_open) before one is opened."""
        return Wallet.from_json(self._call("GET", "/wallets/me"))

    def open_wallet(self, bank_code: str, card_number: str | None = None, *, payment_password: str) -> Wallet:
        """Open my wallet with its payment password (six digits)."""
        body = {"bank_code": bank_code, "payment_password": payment_password}
        if card_number:
            body["card_number"] = card_number
        return Wallet.from_json(self._call("POST", "/wallets/me", json=body))

    def upgrade(self, target_class: int, *, real_name: str | None = None, id_number: str | None = None,
                bank_account_number: str | None = None) -> Wallet:
        body: dict[str, Any] = {"target_class": target_class}
        for k, v in (("real_name", real_name), ("id_number", id_number),
                     ("bank_account_number", bank_account_number)):
            if v:
                body[k] = v
        return Wallet.from_json(self._call("POST", "/wallets/me/upgrade", json=body))

    def set_payment_password(self, new_password: str, current_password: str | None = None) -> Wallet:
        """Set my payment password (支付密码), or change it with the current one."""
        body: dict[str, Any] = {"new_password": new_password}
        if current_password:
            body["current_password"] = current_password
        return Wallet.from_json(self._call("PUT", "/wallets/me/payment-password", json=body))

    def set_password_free_limit(self, limit_fen: int, payment_password: str) -> Wallet:
        """Choose how much a payment may be without the payment password (免密)."""
        return Wallet.from_json(self._call("PUT", "/wallets/me/password-free-limit",
                                           json={"limit_fen": limit_fen, "payment_password": payment_password}))

    def topup(self, amount_fen: int, payment_password: str | None = None) -> Posted:
        """Top up from the linked card (outbox, idempotent; the payment password)."""
        return Posted.from_json(self._money("/wallets/me/topup", {"amount_fen": amount_fen}, payment_password))

    def redeem(self, amount_fen: int, payment_password: str | None = None) -> Posted:
        """Redeem e-CNY back to the linked card (兑回; outbox, idempotent; the payment password)."""
        return Posted.from_json(self._money("/wallets/me/redeem", {"amount_fen": amount_fen}, payment_password))

    def transfer(self, to_phone: str, amount_fen: int, memo: str | None = None,
                 payment_password: str | None = None) -> Posted | HeldTransfer:
        """Send money by phone number (the payment password): the posted transfer, or, for a large first-time
        transfer where the server holds those for a cooling period, the held transfer (no money moved yet;
        cancellable)."""
        body: dict[str, Any] = {"to_phone": to_phone, "amount_fen": amount_fen}
        if memo:
            body["memo"] = memo
        out = self._money("/transfers", body, payment_password)
        return HeldTransfer.from_json(out) if "held_transfer_id" in out else Posted.from_json(out)

    def held_transfers(self) -> list[HeldTransfer]:
        """My transfers held for (or done with) a cooling period, newest first."""
        return [HeldTransfer.from_json(d) for d in self._call("GET", "/protection/held-transfers")["items"]]

    def cancel_held_transfer(self, held_transfer_id: int) -> HeldTransfer:
        """Cancel a held transfer during its cooling period: no money moves (safe to repeat)."""
        return HeldTransfer.from_json(self._call("POST", f"/protection/held-transfers/{held_transfer_id}/cancel"))

    def transactions(self, *, before: int | None = None, limit: int = 20, month: str | None = None
                     ) -> TransactionsPage:
        """My bill list, newest first; ``month`` ("YYYY-MM") keeps one month."""
        params: dict[str, Any] = {"limit": limit}
        if month:
            params["month"] = month
        if before:
            params["before"] = before
        return TransactionsPage.from_json(self._call("GET", "/wallets/me/transactions", params=params))

    # ------------------------------------------------------------------ merchants

    def merchants(self, *, status: str | None = None, limit: int = 20) -> list[Merchant]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return [Merchant.from_json(m) for m in self._call("GET", "/merchants", params=params)["items"]]

    def merchant(self, merchant_id: int) -> Merchant:
        return Merchant.from_json(self._call("GET", f"/merchants/{merchant_id}"))

    def static_qr(self, merchant_id: int) -> StaticQr:
        return StaticQr.from_json(self._call("GET", f"/merchants/{merchant_id}/static-qr"))

    def static_qr_png(self, merchant_id: int) -> bytes:
        """The printable poster (PNG bytes)."""
        return self._call("GET", f"/merchants/{merchant_id}/static-qr", params={"format": "png"})

    def cashiers(self, merchant_id: int) -> list[Cashier]:
        return [Cashier.from_json(c) for c in self._call("GET", f"/merchants/{merchant_id}/cashiers")["items"]]

    def add_cashier(self, merchant_id: int, phone: str, password: str, *, display_name: str = "",
                    refund_limit_fen: int = 0) -> Cashier:
        return Cashier.from_json(self._call("POST", f"/merchants/{merchant_id}/cashiers", json={
            "phone": phone, "password": password, "display_name": display_name,
            "refund_limit_fen": refund_limit_fen}))

    def set_cashier_limit(self, merchant_id: int, user_id: int, refund_limit_fen: int) -> Cashier:
        """Change a cashier's refund limit (the owner)."""
        return Cashier.from_json(self._call("PATCH", f"/merchants/{merchant_id}/cashiers/{user_id}",
                                            json={"refund_limit_fen": refund_limit_fen}))

    def statement(self, merchant_id: int, day: date | str) -> dict:
        return self._call("GET", f"/merchants/{merchant_id}/statements/{day}")

    def statement_csv(self, merchant_id: int, day: date | str, *, tries: int = 20, wait_s: float = 0.5) -> bytes:
        """The day's statement as CSV bytes (owner). A past day's is built by a job on demand (202): asked again
        until it is ready; raises ``NetworkError`` if it is still being built after ``tries``."""
        for attempt in range(tries):
            body = self._call("GET", f"/merchants/{merchant_id}/statements/{day}", params={"format": "csv"})
            if isinstance(body, bytes | str):
                return body.encode() if isinstance(body, str) else body
            if attempt + 1 < tries:
                time.sleep(wait_s)
        raise NetworkError("The statement is still being prepared; try again in a moment.")

    # ------------------------------------------------------------------ orders (merchant side)

    def create_order(self, merchant_id: int, amount_fen: int, *, description: str | None = None,
                     ttl_seconds: int | None = None) -> Order:
        """A dynamic QR for ``amount_fen`` (signed, single-use, expiring). Creating moves no money."""
        body: dict[str, Any] = {"merchant_id": merchant_id, "amount_fen": amount_fen}
        if description:
            body["description"] = description
        if ttl_seconds:
            body["ttl_seconds"] = ttl_seconds
        return Order.from_json(self._call("POST", "/orders", json=body))

    def order(self, order_id: int) -> Order:
        return Order.from_json(self._call("GET", f"/orders/{order_id}"))

    def orders(self, merchant_id: int, *, day: date | str | None = None, status: str | None = None,
               before: int | None = None, limit: int = 50) -> OrdersPage:
        params: dict[str, Any] = {"merchant_id": merchant_id, "limit": limit}
        if day:
            params["date"] = str(day)
        if status:
            params["status"] = status
        if before:
            params["before"] = before
        return OrdersPage.from_json(self._call("GET", "/orders", params=params))

    def cancel_order(self, order_id: int) -> Order:
        return Order.from_json(self._call("POST", f"/orders/{order_id}/cancel"))

    def order_events(self, order_id: int, *, read_timeout_s: float = 15.0) -> EventStream:
        """Open the order's server-sent event stream (status now, then each change, then ``end``).

        Raises ``ApiError`` if the server refuses, ``NetworkError`` if it cannot be reached.
        """
        try:
            resp = self._send("GET", f"/orders/{order_id}/events", stream=True,
                              headers={"Accept": "text/event-stream"}, timeout=(self.timeout_s, read_timeout_s))
        except _NETWORK_ERRORS as exc:
            raise NetworkError(f"Could not open the order's event stream: {exc}") from exc
        if resp.status_code >= 400:
            try:
                raise errors.from_response(resp)
            finally:
                resp.close()
        return EventStream(resp)

    def refund(self, order_id: int, amount_fen: int | None = None, reason: str | None = None, *,
               owner_approval: str | None = None) -> RefundResult:
        """Refund all (``amount_fen=None``) or part of a paid order (outbox, idempotent).

        Above the shop's ``refund_approval_above_fen`` pass ``owner_approval`` from :meth:`refund_approval`.
        """
        body: dict[str, Any] = {}
        if amount_fen is not None:
            body["amount_fen"] = amount_fen
        if reason:
            body["reason"] = reason
        if owner_approval:
            body["owner_approval"] = owner_approval
        return RefundResult.from_json(self._money(f"/orders/{order_id}/refunds", body))

    def refund_approval(self, order_id: int, amount_fen: int, owner_password: str) -> str:
        """Exchange the owner's password for an approval of refunding ``amount_fen`` of the order; return it.

        Not through the outbox: the password is never stored on the device. Raises ``ApiError``
        (``password_wrong``, ``password_locked``).
        """
        body = self._call("POST", f"/orders/{order_id}/refund-approvals",
                          json={"amount_fen": amount_fen, "owner_password": owner_password})
        return body["owner_approval"]

    def set_refund_policy(self, merchant_id: int, above_fen: int | None, password: str) -> Merchant:
        """Owner: refunds above ``above_fen`` need the owner's password (``None``: never)."""
        return Merchant.from_json(self._call("PUT", f"/merchants/{merchant_id}/refund-policy",
                                             json={"refund_approval_above_fen": above_fen, "password": password}))

    # ------------------------------------------------------------------ paying

    def preview(self, payload: str, amount_fen: int | None = None) -> Preview:
        """Ask the server about a scanned code before paying (moves no money); ``amount_fen`` prices a
        static code.

        Raises ``Unprocessable`` with ``qr_*`` codes for a code that must not be paid.
        """
        body: dict[str, Any] = {"payload": payload}
        if amount_fen is not None:
            body["amount_fen"] = amount_fen
        return Preview.from_json(self._call("POST", "/payments/preview", json=body))

    def receipt(self, reference: str) -> Payment:
        """My payment with this reference (a transfer's memo), with its split."""
        return Payment.from_json(self._call("GET", f"/payments/receipts/{reference}"))

    def pay(self, payload: str, amount_fen: int | None = None, payment_password: str | None = None) -> Payment:
        """Pay a scanned merchant code (outbox, idempotent); ``amount_fen`` only for static codes; the payment
        password above my password-free limit."""
        body: dict[str, Any] = {"payload": payload}
        if amount_fen is not None:
            body["amount_fen"] = amount_fen
        return Payment.from_json(self._money("/payments", body, payment_password))

    def charge(self, merchant_id: int, code: str, amount_fen: int, description: str | None = None) -> Payment:
        """Charge a consumer's payment code (outbox, idempotent)."""
        body: dict[str, Any] = {"merchant_id": merchant_id, "code": code, "amount_fen": amount_fen}
        if description:
            body["description"] = description
        return Payment.from_json(self._money("/charges", body))

    # ------------------------------------------------------------------ pay codes

    def register_device(self, name: str) -> DeviceRegistration:
        return DeviceRegistration.from_json(self._call("POST", "/paycodes/devices", json={"name": name}))

    def devices(self) -> list[PaycodeDevice]:
        return [PaycodeDevice.from_json(d) for d in self._call("GET", "/paycodes/devices")["items"]]

    def revoke_device(self, device_id: int) -> None:
        self._call("DELETE", f"/paycodes/devices/{device_id}")

    def sync_device(self, device_id: int) -> PaycodeDevice:
        return PaycodeDevice.from_json(self._call("POST", f"/paycodes/devices/{device_id}/sync"))

    # ------------------------------------------------------------------ zones and campaigns

    def zones(self) -> list[Zone]:
        """Every demonstration zone (names, kind, district, centre)."""
        return [Zone.from_json(z) for z in self._call("GET", "/zones")]

    def locate(self, lat: float, lon: float, *, radius_m: int | None = None) -> Located:
        """The zone a point is in, and the verified merchants near it."""
        params: dict[str, Any] = {"lat": lat, "lon": lon}
        if radius_m:
            params["radius_m"] = radius_m
        return Located.from_json(self._call("GET", "/zones/locate", params=params))

    def campaigns(self, *, zone_id: int | None = None, merchant_id: int | None = None, status: str | None = None,
                  limit: int = 20) -> list[Campaign]:
        """Launched campaigns (staff also see drafts of their zones), newest first; with ``merchant_id`` each
        says whether that merchant takes it (``accepted_here``)."""
        params: dict[str, Any] = {"limit": limit}
        if zone_id:
            params["zone_id"] = zone_id
        if merchant_id:
            params["merchant_id"] = merchant_id
        if status:
            params["status"] = status
        return [Campaign.from_json(c) for c in self._call("GET", "/campaigns", params=params)["items"]]

    def campaign(self, campaign_id: int) -> Campaign:
        """One campaign; for a consumer ``me`` says whether they claimed or registered."""
        return Campaign.from_json(self._call("GET", f"/campaigns/{campaign_id}"))

    def claim(self, campaign_id: int, device_id: str | None = None) -> ClaimResult:
        """Grab a red packet or claim a coupon (outbox, idempotent: a retry never takes two packets).

        Refusals: campaign_not_live, not_eligible, already_claimed, device_cap, sold_out.
        """
        body = {"device_id": device_id} if device_id else {}
        return ClaimResult.from_json(self._money(f"/campaigns/{campaign_id}/claims", body))

    def register_lottery(self, campaign_id: int, device_id: str | None = None, commitment: str | None = None) -> dict:
        """Register for a lottery draw (moves no money), committing to ``commitment`` = sha256(secret) when
        given (see ``payclient.lottery``). Refusal: already_registered."""
        body = {"device_id": device_id} if device_id else {}
        if commitment:
            body["commitment"] = commitment
        return self._call("POST", f"/campaigns/{campaign_id}/registrations", json=body)

    def reveal_lottery(self, campaign_id: int, secret_hex: str) -> dict:
        """Reveal the secret committed to at registration (after registration closed, before ``draw_at``).
        Refusals: reveal_not_open, not_registered, no_commitment, campaign_cancelled; 422 secret."""
        return self._call("POST", f"/campaigns/{campaign_id}/registrations/reveal", json={"secret": secret_hex})

    def draw_url(self, campaign_id: int) -> str:
        """Where anyone can read a lottery's published draw (to recompute with ``campaigns.verify_draw``)."""
        return f"{self.base_url}/campaigns/{campaign_id}/draw"

    def draw(self, campaign_id: int) -> dict:
        """The lottery's published draw document."""
        return self._call("GET", f"/campaigns/{campaign_id}/draw")

    def my_red_packets(self) -> tuple[list[MyRedPacket], int]:
        """My red packets (earliest spend deadline first) and the total still spendable, in fen."""
        data = self._call("GET", "/wallets/me/red-packets")
        return [MyRedPacket.from_json(i) for i in data["items"]], data.get("spendable_fen", 0)

    def my_coupons(self) -> list[MyCoupon]:
        return [MyCoupon.from_json(i) for i in self._call("GET", "/wallets/me/coupons")["items"]]

    # ------------------------------------------------------------------ prepaid (预付卡)

    def prepaid_plans(self, *, prepaid_merchant_id: int | None = None, zone_id: int | None = None,
                      limit: int = 50) -> list[PrepaidPlan]:
        """Plans on sale at approved prepaid merchants (in ``zone_id``: near me), newest first."""
        params: dict[str, Any] = {"limit": limit}
        if prepaid_merchant_id:
            params["prepaid_merchant_id"] = prepaid_merchant_id
        if zone_id:
            params["zone_id"] = zone_id
        return [PrepaidPlan.from_json(p) for p in self._call("GET", "/prepaid/plans", params=params)["items"]]

    def prepaid_merchants(self) -> list[dict]:
        """The prepaid merchants the caller may see (an owner: their shops' applications)."""
        return self._call("GET", "/prepaid/merchants", params={"limit": 100})["items"]

    def prepaid_publish(self, prepaid_merchant_id: int, plan: dict) -> PrepaidPlan:
        """Publish a plan (the owner). Refusal: prepaid_limit (``rule``, ``limit``), validation_failed."""
        return PrepaidPlan.from_json(self._call("POST", f"/prepaid/merchants/{prepaid_merchant_id}/plans", json=plan))

    def prepaid_buy(self, plan_id: int) -> PrepaidContract:
        """Buy a plan (outbox, idempotent): the price goes into the contract's own escrow.

        Refusals: prepaid_limit (the wallet class's purchase cap), insufficient_funds, limit_exceeded.
        """
        return PrepaidContract.from_json(self._money(f"/prepaid/plans/{plan_id}/purchase", {}))

    def prepaid_contracts(self, *, status: str | None = None, limit: int = 50) -> list[PrepaidContract]:
        """My prepaid cards (a consumer), or the shop's contracts (its staff), newest first."""
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        return [PrepaidContract.from_json(c) for c in self._call("GET", "/prepaid/contracts", params=params)["items"]]

    def prepaid_contract(self, contract_id: int) -> PrepaidContract:
        return PrepaidContract.from_json(self._call("GET", f"/prepaid/contracts/{contract_id}"))

    def prepaid_refund(self, contract_id: int) -> PrepaidContract:
        """Get back what is left (outbox, idempotent): all within cooling-off, minus the plan's fee after."""
        return PrepaidContract.from_json(self._money(f"/prepaid/contracts/{contract_id}/refund", {}))

    def prepaid_release(self, code: str, units: int = 1) -> PrepaidRelease:
        """The shop releases ``units`` of the scanned contract code (outbox, idempotent).

        Refusals: contract_not_found, not_enough_units, contract_ended, contract_expired, time_pass.
        """
        return PrepaidRelease.from_json(self._money("/prepaid/releases", {"code": code, "units": units}))

    def prepaid_releases(self, day: date | str | None = None) -> tuple[list[PrepaidRelease], int]:
        """The shop's releases of a local day (default today), newest first, and their total in fen."""
        params = {"day": str(day)} if day else {}
        data = self._call("GET", "/prepaid/releases", params=params)
        return [PrepaidRelease.from_json(r) for r in data["items"]], data["total_fen"]

    def prepaid_history(self, contract_id: int) -> list[PrepaidRelease]:
        """A card's releases (核销), newest first."""
        data = self._call("GET", f"/prepaid/contracts/{contract_id}/releases")
        return [PrepaidRelease.from_json(r) for r in data["items"]]

    # ------------------------------------------------------------------ payouts (工资/补贴到账)

    def payslips(self, *, before: int | None = None, limit: int = 20) -> tuple[list[Payslip], int | None]:
        """My pay slips (salaries, allowances, subsidies, reimbursements), newest first, and the cursor of the
        next page (None: no more)."""
        params = {"limit": limit, **({"before": before} if before else {})}
        data = self._call("GET", "/payouts/me/payslips", params=params)
        return [Payslip.from_json(p) for p in data["items"]], data.get("next_before")

    def payslip(self, line_id: int) -> Payslip:
        return Payslip.from_json(self._call("GET", f"/payouts/me/payslips/{line_id}"))

    # ------------------------------------------------------------------ transit (hard wallets, 硬钱包)

    def transit_cards(self) -> list[HardWallet]:
        """My hard wallets, with the balance their synced records leave."""
        return [HardWallet.from_json(c) for c in self._call("GET", "/transit/cards")["items"]]

    def transit_card(self, card_id: str) -> HardWallet:
        return HardWallet.from_json(self._call("GET", f"/transit/cards/{card_id}"))

    def transit_issue(self, card_id: str, public_key_b64: str,
                      ytc_number: str | None = None) -> tuple[HardWallet, dict]:
        """Issue a hard wallet for the card's public key; return it and the body's ``certificate`` and
        ``issuer_keys`` (to install on the card). Refusals: wallet_not_open, card_exists, key_in_use,
        ytc_number_in_use."""
        body = self._call("POST", "/transit/cards", json={"card_id": card_id, "public_key": public_key_b64,
                                                          "ytc_number": ytc_number})
        return HardWallet.from_json(body), {"certificate": body["certificate"], "issuer_keys": body["issuer_keys"]}

    def transit_load(self, card_id: str, amount_fen: int) -> CardLoad:
        """Load the card from the soft wallet (圈存; outbox, idempotent: a retry keeps its Idempotency-Key, so
        it never loads twice). Refusals: card_not_active, insufficient_funds, payee_limit_exceeded."""
        return CardLoad.from_json(self._money(f"/transit/cards/{card_id}/loads", {"amount_fen": amount_fen}))

    def transit_loads(self, card_id: str) -> list[dict]:
        """Every issuer-signed load of the card, in order (a card that missed one applies it again)."""
        return self._call("GET", f"/transit/cards/{card_id}/loads")["items"]

    def transit_unload(self, card_id: str, record: dict) -> HardWallet:
        """Send the unload record the card signed (圈提; outbox, idempotent: the same record under the same
        key); return the card after it. Refusal: record_refused (``reason``)."""
        return HardWallet.from_json(self._money(f"/transit/cards/{card_id}/unloads", {"record": record})["card"])

    def transit_report_lost(self, card_id: str) -> HardWallet:
        """Report the card lost: blacklisted now, its provable balance refunded after ``refund_due_at``
        (idempotent on the server: reporting twice changes nothing)."""
        return HardWallet.from_json(self._call("POST", f"/transit/cards/{card_id}/lost"))

    def transit_records(self, card_id: str, *, limit: int = 50, before: int | None = None) -> list[TransitRecord]:
        """The card's settled records (journeys and unloads), highest counter first."""
        params = {"limit": limit, **({"before": before} if before else {})}
        return [TransitRecord.from_json(r)
                for r in self._call("GET", f"/transit/cards/{card_id}/records", params=params)["items"]]

    # ------------------------------------------------------------------ keys

    def keys(self) -> list[PublicKey]:
        """The public keys that sign QR codes (no token needed)."""
        return [PublicKey.from_json(k) for k in self._call("GET", "/keys")["keys"]]

    # ------------------------------------------------------------------ protection

    def fraud_list(self, etag: str | None = None) -> tuple[dict, str | None] | None:
        """The published fraud list (no token needed): ``(body, etag)``, or ``None`` if ``etag`` is current (304)."""
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            try:
                resp = self._send("GET", "/protection/registry",
                                  headers={"If-None-Match": etag} if etag else None)
            except _NETWORK_ERRORS as exc:
                last = exc
            else:
                if resp.status_code == 304:
                    return None
                return self._body(resp), resp.headers.get("ETag")
            self.sleep(self.backoff_s * 2 ** attempt)
        raise NetworkError(f"Could not reach the Suiyuan server: {last}") from last

    def report_fraud(self, kind: str, value: str, note: str = "") -> dict:
        """Report (举报) a code, merchant, wallet, phone number or web address as a scam; return the entry."""
        return self._call("POST", "/protection/reports", json={"kind": kind, "value": value, "note": note})

    def scan_check(self, text: str) -> dict:
        """Ask the server to classify a scanned text (``payclient.fraud.assess`` with the live list)."""
        return self._call("POST", "/protection/scan-checks", json={"text": text})


class EventStream:
    """Server-sent events of one order, as :class:`OrderEvent` s; ``close()`` from any thread stops it."""

    def __init__(self, resp: requests.Response):
        self._resp = resp
        self._closed = threading.Event()
        self._events = self._read()

    def __iter__(self) -> Iterator[OrderEvent]:
        return self

    def __next__(self) -> OrderEvent:
        return next(self._events)

    def _read(self) -> Iterator[OrderEvent]:
        try:
            for event, data in _sse(self._resp.iter_content(chunk_size=None)):
                if event not in ("status", "end"):
                    continue
                yield OrderEvent(event, data.get("status", ""), parse_time(data.get("paid_at")))
                if event == "end":
                    return
        except (requests.RequestException, AttributeError, ValueError, OSError) as exc:
            if not self._closed.is_set():
                raise NetworkError(f"The order's event stream broke: {exc}") from exc
        finally:
            self.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self._resp.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _sse(chunks) -> Iterator[tuple[str, dict]]:
    """Parse server-sent events from byte chunks; yield ``(event, data as JSON)``."""
    import json

    buf = ""
    for chunk in chunks:
        buf += chunk.decode("utf-8") if isinstance(chunk, bytes) else chunk
        buf = buf.replace("\r\n", "\n")
        while "\n\n" in buf:
            block, buf = buf.split("\n\n", 1)
            event, data = "message", []
            for line in block.split("\n"):
                if line.startswith(":"):
                    continue  # comment (keep-alive)
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "event":
                    event = value
                elif name == "data":
                    data.append(value)
            if data:
                yield event, json.loads("\n".join(data))


def watch_order(api: ApiClient, order_id: int, on_status: Callable[[str, OrderEvent | Order], None], *,
                stop: threading.Event, poll_s: float = 1.0) -> str:
    """Follow an order until it is final or ``stop`` is set; call ``on_status(status, event)`` on each change.

    Uses the event stream and falls back to polling ``GET /orders/{id}`` when
    the stream cannot be opened or breaks (a proxy that buffers, a flaky
    network). Returns the last status seen. Runs in the caller's thread.
    """
    last = ""

    def seen(status: str, what) -> bool:
        nonlocal last
        if status and status != last:
            last = status
            on_status(status, what)
        return status not in ("", "created")

    holder: dict[str, EventStream] = {}

    def closer():
        stop.wait()
        if "s" in holder:
            holder["s"].close()

    threading.Thread(target=closer, daemon=True).start()
    try:
        while not stop.is_set():
            try:
                stream = api.order_events(order_id)
                holder["s"] = stream
                if stop.is_set():
                    stream.close()
                    break
                for event in stream:
                    if seen(event.status, event):
                        return last
                    if stop.is_set():
                        break
            except NetworkError:
                pass
            except ApiError:
                raise
            # The stream ended or broke without a final status: poll once, then reconnect.
            if stop.is_set():
                break
            try:
                order = api.order(order_id)
                if seen(order.status, order):
                    return last
            except NetworkError:
                pass
            stop.wait(poll_s)
        return last
    finally:
        stop.set()
