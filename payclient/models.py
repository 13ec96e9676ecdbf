"""Typed results of the Suiyuan API (dataclasses built from its JSON).

Every class has ``from_json(dict)``, which ignores fields it does not know so
that a newer server never breaks an older app. Money is ``int`` fen; times are
timezone-aware ``datetime`` (UTC as sent by the server).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Bank", "Breakdown", "Campaign", "Cashier", "ClaimResult", "DeviceRegistration", "Located", "LoginResult",
    "Merchant",
    "MyCoupon", "MyRedPacket", "Order", "OrderEvent", "OrderMerchant", "OrderTotals", "OrdersPage", "PaycodeDevice",
    "Payment", "PaymentLeg", "Payslip", "Posted", "Preview", "PreviewMerchant", "PublicKey", "RefundInfo",
    "RefundResult",
    "StaticQr", "Transaction", "TransactionsPage", "User", "Wallet", "WalletLimits", "Zone",
]


def parse_time(text: str | None) -> datetime | None:
    """Return the ISO-8601 ``text`` as an aware datetime, or None."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _known(cls, data: dict[str, Any], **converted) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    values = {k: v for k, v in data.items() if k in names}
    values.update(converted)
    return cls(**values)


@dataclass(frozen=True)
class LoginAlerts:
    """Log-in attempts on the account from clients other than its known devices, over the last day."""

    failed: int = 0
    blocked: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    window_hours: int = 24

    @property
    def any(self) -> bool:
        return bool(self.failed or self.blocked)

    @classmethod
    def from_json(cls, d: dict) -> LoginAlerts:
        return _known(cls, d, first_at=parse_time(d.get("first_at")), last_at=parse_time(d.get("last_at")))


@dataclass(frozen=True)
class User:
    id: int
    phone: str
    role: str
    display_name: str = ""
    bank_id: int | None = None
    login_alerts: LoginAlerts | None = None

    @classmethod
    def from_json(cls, d: dict) -> User:
        alerts = d.get("login_alerts")
        return _known(cls, d, login_alerts=LoginAlerts.from_json(alerts) if isinstance(alerts, dict) else None)


@dataclass(frozen=True)
class LoginResult:
    token: str
    user: User
    device_token: str | None = None
    refresh_token: str | None = None
    expires_in: int | None = None

    @classmethod
    def from_json(cls, d: dict) -> LoginResult:
        return cls(token=d["token"], user=User.from_json(d["user"]), device_token=d.get("device_token"),
                   refresh_token=d.get("refresh_token"), expires_in=d.get("expires_in"))


@dataclass(frozen=True)
class Bank:
    code: str
    name_zh: str
    name_en: str

    @classmethod
    def from_json(cls, d: dict) -> Bank:
        return _known(cls, d)


@dataclass(frozen=True)
class WalletLimits:
    """Caps of the wallet's class in fen; ``None`` means no cap."""

    balance_cap_fen: int | None = None
    single_payment_cap_fen: int | None = None
    day_cap_fen: int | None = None
    year_cap_fen: int | None = None

    @classmethod
    def from_json(cls, d: dict) -> WalletLimits:
        return _known(cls, d)


@dataclass(frozen=True)
class Wallet:
    wallet_number: str
    wallet_class: int
    status: str
    bank: Bank
    balance_fen: int
    limits: WalletLimits
    spent_today_fen: int = 0
    spent_this_year_fen: int = 0
    remaining_today_fen: int | None = None
    remaining_this_year_fen: int | None = None
    real_name: str | None = None
    id_number_masked: str | None = None
    bank_account_masked: str | None = None
    card_masked: str | None = None
    opened_at: datetime | None = None
    payment_password_set: bool = False  # 支付密码; False for wallets opened before it existed
    password_free_limit_fen: int = 100_000  # payments up to this need no payment password (免密)
    password_free_limit_choices_fen: tuple = (0, 20_000, 50_000, 100_000, 200_000)

    @classmethod
    def from_json(cls, d: dict) -> Wallet:
        if "password_free_limit_choices_fen" in d:
            d = {**d, "password_free_limit_choices_fen": tuple(d["password_free_limit_choices_fen"])}
        return _known(cls, d, bank=Bank.from_json(d["bank"]), limits=WalletLimits.from_json(d["limits"]),
                      opened_at=parse_time(d.get("opened_at")))


@dataclass(frozen=True)
class Posted:
    """A money movement as seen from my wallet (top-up, redemption, transfer)."""

    transfer_id: int
    code: str
    amount_fen: int
    direction: str
    balance_after_fen: int
    created_at: datetime | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, d: dict) -> Posted:
        names = {f.name for f in dataclasses.fields(cls)}
        return _known(cls, d, created_at=parse_time(d.get("created_at")),
                      extra={k: v for k, v in d.items() if k not in names})


@dataclass(frozen=True)
class HeldTransfer:
    """A large first-time transfer held for its cooling period (冷静期): no money moved yet; it completes at
    ``completes_at`` unless cancelled (``ApiClient.cancel_held_transfer``)."""

    held_transfer_id: int
    status: str  # pending, completed, cancelled, failed
    amount_fen: int
    completes_at: datetime | None = None
    memo: str | None = None
    payee_phone_masked: str | None = None
    transfer_id: int | None = None
    failure_code: str | None = None
    rule: dict = field(default_factory=dict)  # code, title_zh, text_zh, text_en: why it waits

    @classmethod
    def from_json(cls, d: dict) -> HeldTransfer:
        return _known(cls, d, completes_at=parse_time(d.get("completes_at")))


@dataclass(frozen=True)
class Transaction:
    transfer_id: int
    code: str
    direction: str
    amount_fen: int
    signed_amount_fen: int
    created_at: datetime
    counterparty_account_id: int | None = None
    memo: str | None = None
    reverses_transfer_id: int | None = None
    # The other side: {"kind", "name_zh", "name_en", "merchant_id"} (the shop of a payment or refund, the bank…)
    counterparty: dict | None = None

    @classmethod
    def from_json(cls, d: dict) -> Transaction:
        return _known(cls, d, created_at=parse_time(d["created_at"]))

    def counterparty_name(self, lang: str) -> str:
        """The other side's name in ``lang`` ("" when the server does not know it)."""
        other = self.counterparty or {}
        return (other.get("name_en") if lang == "en" else other.get("name_zh")) or ""


@dataclass(frozen=True)
class TransactionsPage:
    items: list[Transaction]
    next_before: int | None

    @classmethod
    def from_json(cls, d: dict) -> TransactionsPage:
        return cls([Transaction.from_json(i) for i in d["items"]], d.get("next_before"))


@dataclass(frozen=True)
class Merchant:
    id: int
    merchant_number: str
    name_zh: str
    name_en: str
    scenario: str
    status: str
    verified: bool
    scenario_zh: str = ""
    mcc: str = ""
    address: str = ""
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    bank_code: str = ""
    owner_user_id: int | None = None
    review_reason: str | None = None
    refund_approval_above_fen: int | None = None  # refunds above it need the owner's password

    @classmethod
    def from_json(cls, d: dict) -> Merchant:
        return _known(cls, d)


@dataclass(frozen=True)
class StaticQr:
    merchant_id: int
    payload: str
    daily_cap_per_consumer_fen: int

    @classmethod
    def from_json(cls, d: dict) -> StaticQr:
        return _known(cls, d)


@dataclass(frozen=True)
class Cashier:
    user_id: int
    phone: str
    display_name: str
    refund_limit_fen: int
    merchant_id: int

    @classmethod
    def from_json(cls, d: dict) -> Cashier:
        return _known(cls, d)


@dataclass(frozen=True)
class OrderMerchant:
    id: int
    name_zh: str
    name_en: str
    merchant_number: str

    @classmethod
    def from_json(cls, d: dict) -> OrderMerchant:
        return _known(cls, d)


@dataclass(frozen=True)
class Order:
    id: int
    reference: str
    kind: str
    status: str
    amount_fen: int
    merchant: OrderMerchant
    refunded_fen: int = 0
    description: str | None = None
    payload: str | None = None
    key_id: str | None = None
    created_at: datetime | None = None
    expires_at: datetime | None = None
    paid_at: datetime | None = None
    breakdown: Breakdown | None = None  # on a single paid order: how it was paid
    payer_tail: str | None = None  # on a single paid order: the payer's last four phone digits

    @property
    def refundable_fen(self) -> int:
        """What is left to refund (0 unless paid)."""
        if self.status not in ("paid", "partially_refunded"):
            return 0
        return self.amount_fen - self.refunded_fen

    @classmethod
    def from_json(cls, d: dict) -> Order:
        return _known(cls, d, merchant=OrderMerchant.from_json(d["merchant"]),
                      created_at=parse_time(d.get("created_at")), expires_at=parse_time(d.get("expires_at")),
                      paid_at=parse_time(d.get("paid_at")), breakdown=Breakdown.from_json(d.get("breakdown")))


@dataclass(frozen=True)
class OrderTotals:
    order_count: int = 0
    paid_count: int = 0
    paid_fen: int = 0
    refunded_fen: int = 0
    net_fen: int = 0

    @classmethod
    def from_json(cls, d: dict) -> OrderTotals:
        return _known(cls, d)


@dataclass(frozen=True)
class OrdersPage:
    items: list[Order]
    totals: OrderTotals
    next_before: int | None

    @classmethod
    def from_json(cls, d: dict) -> OrdersPage:
        return cls([Order.from_json(i) for i in d["items"]], OrderTotals.from_json(d.get("totals") or {}),
                   d.get("next_before"))


@dataclass(frozen=True)
class OrderEvent:
    """One server-sent event of ``/orders/{id}/events``: ``status`` changes, then ``end``."""

    event: str
    status: str
    paid_at: datetime | None = None

    @property
    def final(self) -> bool:
        return self.event == "end" or self.status != "created"


@dataclass(frozen=True)
class PaymentLeg:
    transfer_id: int
    code: str
    amount_fen: int

    @classmethod
    def from_json(cls, d: dict) -> PaymentLeg:
        return _known(cls, d)


@dataclass(frozen=True)
class Breakdown:
    """How a payment is (or would be) paid: the price, red packets, coupons, and what leaves the wallet.

    The merchant receives the full price. Before paying, the preview adds the
    wallet's balance and whether it covers ``from_wallet_fen``.
    """

    price_fen: int
    red_packet_fen: int = 0
    coupon_fen: int = 0
    from_wallet_fen: int = 0
    merchant_receives_fen: int | None = None
    wallet_balance_fen: int | None = None
    enough_balance: bool | None = None
    short_fen: int = 0

    @property
    def subsidy_fen(self) -> int:
        return self.red_packet_fen + self.coupon_fen

    @classmethod
    def from_json(cls, d: dict | None) -> Breakdown | None:
        return _known(cls, d) if d else None

    @classmethod
    def plain(cls, price_fen: int, subsidy_fen: int = 0) -> Breakdown:
        """A split known only as a total subsidy (an older server): counted as red packets."""
        return cls(price_fen, red_packet_fen=subsidy_fen, from_wallet_fen=price_fen - subsidy_fen,
                   merchant_receives_fen=price_fen)


@dataclass(frozen=True)
class Payment:
    """A settled payment: the paid order, its legs, its split, and (for the payer only) the balance after."""

    order: Order
    transfer_id: int
    paid_from_balance_fen: int
    subsidy_fen: int = 0
    legs: list[PaymentLeg] = field(default_factory=list)
    payer_balance_after_fen: int | None = None
    breakdown: Breakdown | None = None

    @property
    def split(self) -> Breakdown:
        """The breakdown, or one made from the subsidy total when the server sent none."""
        return self.breakdown or Breakdown.plain(self.order.amount_fen, self.subsidy_fen)

    @classmethod
    def from_json(cls, d: dict) -> Payment:
        return cls(order=Order.from_json(d), transfer_id=d.get("transfer_id", 0),
                   paid_from_balance_fen=d.get("paid_from_balance_fen", d["amount_fen"]),
                   subsidy_fen=d.get("subsidy_fen", 0), legs=[PaymentLeg.from_json(x) for x in d.get("legs", [])],
                   payer_balance_after_fen=d.get("payer_balance_after_fen"),
                   breakdown=Breakdown.from_json(d.get("breakdown")))


@dataclass(frozen=True)
class PreviewMerchant:
    id: int
    name_zh: str
    name_en: str
    scenario: str = ""
    verified: bool = False
    zone: dict | None = None  # {"id", "name_zh", "name_en"} once the server sends it

    @classmethod
    def from_json(cls, d: dict) -> PreviewMerchant:
        return _known(cls, d)


@dataclass(frozen=True)
class Preview:
    """What ``payments/preview`` says about a scanned code before any money moves."""

    genuine: bool
    dynamic: bool
    amount_fen: int | None
    merchant: PreviewMerchant
    order_status: str | None = None
    expires_at: datetime | None = None
    breakdown: Breakdown | None = None  # when the amount is known and the order payable
    payment_password_needed: bool = False  # above my password-free limit: ask the payment password

    @classmethod
    def from_json(cls, d: dict) -> Preview:
        return _known(cls, d, merchant=PreviewMerchant.from_json(d["merchant"]),
                      expires_at=parse_time(d.get("expires_at")), breakdown=Breakdown.from_json(d.get("breakdown")))


@dataclass(frozen=True)
class RefundInfo:
    id: int
    amount_fen: int
    transfer_id: int
    reason: str | None = None

    @classmethod
    def from_json(cls, d: dict) -> RefundInfo:
        return _known(cls, d)


@dataclass(frozen=True)
class RefundResult:
    order: Order
    refund: RefundInfo

    @classmethod
    def from_json(cls, d: dict) -> RefundResult:
        return cls(Order.from_json(d), RefundInfo.from_json(d["refund"]))


@dataclass(frozen=True)
class PaycodeDevice:
    id: int
    name: str
    revoked: bool = False
    offline_payments_since_sync: int = 0
    created_at: datetime | None = None
    last_sync_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict) -> PaycodeDevice:
        return _known(cls, d, created_at=parse_time(d.get("created_at")),
                      last_sync_at=parse_time(d.get("last_sync_at")))


@dataclass(frozen=True)
class DeviceRegistration:
    """A registered pay-code device and its secret (returned once; keep it on the device)."""

    device: PaycodeDevice
    secret_b32: str
    step_seconds: int
    digits: int
    prefix: str

    @classmethod
    def from_json(cls, d: dict) -> DeviceRegistration:
        return cls(PaycodeDevice.from_json(d), d["secret_b32"], d["step_seconds"], d["digits"], d["prefix"])


@dataclass(frozen=True)
class PublicKey:
    """A QR-signing public key (JWK-like, OKP/Ed25519)."""

    kid: str
    x: str
    kty: str = "OKP"
    crv: str = "Ed25519"
    status: str = "active"
    created_at: datetime | None = None
    retired_at: datetime | None = None

    def raw(self) -> bytes:
        """Return the 32 raw public-key bytes."""
        import base64

        return base64.urlsafe_b64decode(self.x + "=" * (-len(self.x) % 4))

    @classmethod
    def from_json(cls, d: dict) -> PublicKey:
        return _known(cls, d, created_at=parse_time(d.get("created_at")),
                      retired_at=parse_time(d.get("retired_at")))


# ---------------------------------------------------------------- zones and campaigns


@dataclass(frozen=True)
class Zone:
    id: int
    code: str
    name_zh: str
    name_en: str
    kind: str = ""
    district: str = ""
    centroid: dict | None = None

    @classmethod
    def from_json(cls, d: dict) -> Zone:
        return _known(cls, d)


@dataclass(frozen=True)
class Located:
    """``zones/locate``: the zone a point is in (or None) and the verified merchants near it."""

    zone: Zone | None
    merchants: list[dict]

    @classmethod
    def from_json(cls, d: dict) -> Located:
        return cls(Zone.from_json(d["zone"]) if d.get("zone") else None, list(d.get("merchants") or []))


@dataclass(frozen=True)
class Campaign:
    """A red-packet (grab or lottery) or coupon campaign; ``me`` is the consumer's own part, when asked."""

    id: int
    name: str
    kind: str
    status: str
    zone_ids: list[int] = field(default_factory=list)
    merchant_ids: list[int] = field(default_factory=list)
    scenarios: list[str] | None = None
    split: str | None = None
    packet_count: int = 0
    budget_fen: int | None = None
    discount_fen: int | None = None
    min_spend_fen: int | None = None
    stackable: bool = False
    windows: dict = field(default_factory=dict)
    me: dict | None = None
    draw_at: str | None = None  # lotteries: the end of the reveal window, when the draw runs
    drawn_at: str | None = None
    seed_sha256: str | None = None
    accepted_here: bool | None = None  # listed with a merchant_id: whether that shop takes it

    def window(self, name: str) -> datetime | None:
        """``claim_ends_at``, ``registration_ends_at``, ``spend_ends_at``… as a datetime."""
        return parse_time(self.windows.get(name))

    @property
    def closes_at(self) -> datetime | None:
        return self.window("registration_ends_at") if self.kind == "lottery" else self.window("claim_ends_at")

    @property
    def opens_at(self) -> datetime | None:
        return self.window("registration_starts_at") if self.kind == "lottery" else self.window("claim_starts_at")

    @classmethod
    def from_json(cls, d: dict) -> Campaign:
        return _known(cls, d, zone_ids=list(d.get("zone_ids") or []), merchant_ids=list(d.get("merchant_ids") or []),
                      windows=dict(d.get("windows") or {}))


@dataclass(frozen=True)
class ClaimResult:
    claim_id: int
    campaign_id: int
    kind: str
    amount_fen: int | None = None
    discount_fen: int | None = None
    min_spend_fen: int | None = None
    spend_ends_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict) -> ClaimResult:
        return _known(cls, d, spend_ends_at=parse_time(d.get("spend_ends_at")))


@dataclass(frozen=True)
class MyRedPacket:
    claim_id: int
    campaign: dict
    amount_fen: int
    balance_fen: int
    state: str  # active, spent, expired, void
    spend_ends_at: datetime | None = None
    claimed_at: datetime | None = None
    via: str = ""

    @classmethod
    def from_json(cls, d: dict) -> MyRedPacket:
        return _known(cls, d, spend_ends_at=parse_time(d.get("spend_ends_at")),
                      claimed_at=parse_time(d.get("claimed_at")))


@dataclass(frozen=True)
class MyCoupon:
    claim_id: int
    campaign: dict
    discount_fen: int
    min_spend_fen: int
    state: str  # claimed, used, expired
    stackable: bool = False
    spend_ends_at: datetime | None = None
    claimed_at: datetime | None = None
    used_order_id: int | None = None

    @classmethod
    def from_json(cls, d: dict) -> MyCoupon:
        return _known(cls, d, spend_ends_at=parse_time(d.get("spend_ends_at")),
                      claimed_at=parse_time(d.get("claimed_at")))


# ---------------------------------------------------------------- prepaid (预付卡)


@dataclass(frozen=True)
class PrepaidPlan:
    """A plan a prepaid merchant sells: sessions, stored value (with a bonus) or a time pass."""

    id: int
    prepaid_merchant_id: int
    merchant_name_zh: str
    industry: str
    kind: str
    name: str
    price_fen: int
    units: int
    unit_price_fen: int | None = None
    bonus_fen: int = 0
    months: int | None = None
    valid_days: int = 0
    cooling_off_days: int = 7
    refund_fee_bp: int = 0
    status: str = "active"
    credit_grade: dict | None = None

    @classmethod
    def from_json(cls, d: dict) -> PrepaidPlan:
        return _known(cls, d)


@dataclass(frozen=True)
class PrepaidContract:
    """One bought plan: units left, what its escrow holds, its terms and their SHA-256, and (for its consumer)
    the code the shop scans to release a use."""

    id: int
    number: str
    plan_id: int
    prepaid_merchant_id: int
    kind: str
    status: str
    price_fen: int
    units_total: int
    units_left: int
    escrow_fen: int
    refund_fee_bp: int
    terms: dict
    terms_sha256: str
    in_cooling_off: bool = False
    cooling_off_ends_at: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    code: str | None = None
    refund_kind: str | None = None
    refunded_fen: int = 0
    fee_fen: int = 0

    @classmethod
    def from_json(cls, d: dict) -> PrepaidContract:
        return _known(cls, d, cooling_off_ends_at=parse_time(d.get("cooling_off_ends_at")),
                      expires_at=parse_time(d.get("expires_at")), created_at=parse_time(d.get("created_at")))


@dataclass(frozen=True)
class PrepaidRelease:
    """Units of a contract released to the shop (核销), with the fen that left escrow."""

    id: int
    contract_id: int
    contract_number: str
    units: int
    amount_fen: int
    units_left: int
    contract_status: str
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict) -> PrepaidRelease:
        return _known(cls, d, created_at=parse_time(d.get("created_at")))


# ---------------------------------------------------------------- payouts (工资/补贴到账)


@dataclass(frozen=True)
class Payslip:
    """A salary, allowance, subsidy or reimbursement paid to me by an organisation (a payout line), with where
    it went (wallet, and the part above the wallet's cap to my bank account) and, for a line that could not be
    paid, a notice saying what to do."""

    id: int
    organisation: str
    title: str
    category: str
    category_zh: str
    amount_fen: int
    status: str
    memo: str | None = None
    to_wallet_fen: int = 0
    to_bank_fen: int = 0
    transfer_id: int | None = None
    paid_at: datetime | None = None
    notice: dict | None = None

    @classmethod
    def from_json(cls, d: dict) -> Payslip:
        return _known(cls, d, paid_at=parse_time(d.get("paid_at")))



# ---------------------------------------------------------------- transit (hard wallets, 硬钱包)


@dataclass(frozen=True)
class HardWallet:
    """One of my hard wallets as the server knows it: ``balance_fen`` is what its synced records leave (the
    card itself may hold less, having paid fares offline that no validator has uploaded yet)."""

    card_id: str
    status: str  # active, blacklisted, lost
    balance_fen: int
    ytc_number: str | None = None
    loaded_fen: int = 0
    spent_fen: int = 0
    unloaded_fen: int = 0
    refunded_fen: int = 0
    loss_fen: int = 0
    loads_count: int = 0
    last_counter: int = 0
    unaccounted_fen: int = 0
    limits: dict = field(default_factory=dict)
    last_synced_at: datetime | None = None
    reported_lost_at: datetime | None = None
    refund_due_at: datetime | None = None
    refunded_at: datetime | None = None
    created_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict) -> HardWallet:
        times = ("last_synced_at", "reported_lost_at", "refund_due_at", "refunded_at", "created_at")
        return _known(cls, d, **{k: parse_time(d.get(k)) for k in times})


@dataclass(frozen=True)
class TransitRecord:
    """A settled record of a card: a fare (``trip`` names the journey: ``bus:B1``, ``metro:A>B``) or an unload."""

    counter: int
    kind: str  # fare or unload
    amount_fen: int
    terminal_id: str
    trip: str = ""
    at: datetime | None = None
    settled_at: datetime | None = None

    @classmethod
    def from_json(cls, d: dict) -> TransitRecord:
        return _known(cls, d, at=parse_time(d.get("at")), settled_at=parse_time(d.get("settled_at")))


@dataclass(frozen=True)
class CardLoad:
    """A load (圈存) done: the issuer-signed ``authorisation`` the card applies, and the card after it."""

    authorisation: dict
    card: HardWallet
    transfer_id: int

    @classmethod
    def from_json(cls, d: dict) -> CardLoad:
        return cls(d["authorisation"], HardWallet.from_json(d["card"]), d["transfer_id"])
