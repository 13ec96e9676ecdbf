"""The limits on prepaid plans, as data: rows of ``prepaid_rules`` (the pilot office may change a value),
with defaults from the national rules on single-purpose prepaid cards (单用途商业预付卡管理办法) and on
off-campus training fees (校外培训: no more than 60 class hours or 3 months collected in advance).

A refusal names its rule: ``RuleRefused`` carries ``rule`` (the code below), ``limit`` and the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from backend.clock import utcnow
from backend.errors import Unprocessable
from backend.extensions import db
from prepaid.models import PrepaidRule, RegulatorIndustry

#: Why money moved (``transfers.code``).
PURCHASE = "prepaid_purchase"  # consumer wallet → the contract's escrow
RELEASE = "prepaid_release"  # escrow → the merchant (and the split rule's other parties)
REFUND = "prepaid_refund"  # escrow → the consumer's wallet
FEE = "prepaid_refund_fee"  # escrow → the merchant: the plan's fee on a refund after cooling-off


def due(units_left: int, price_fen: int, units_total: int) -> int:
    """Return the fen a contract's escrow must hold with ``units_left`` units unreleased.

    Sessions: units × unit price. Stored value (value = price + bonus) and time passes (days): the
    price pro rata, rounded down, so the escrow falls to 0 exactly with the last unit and the sum of
    what releases move telescopes to the price.
    """
    return units_left * price_fen // units_total


@dataclass(frozen=True)
class Rule:
    code: str
    default: int
    unit: str
    zh: str
    en: str


RULES = {r.code: r for r in (
    Rule("named_purchase_cap_fen", 500_000, "fen",
         "记名预付卡单张资金限额不超过5000元（实名钱包，一至三类）",
         "A named consumer (wallet class 1–3) pays at most ¥5,000 for one prepaid purchase"),
    Rule("anonymous_purchase_cap_fen", 100_000, "fen",
         "不记名预付卡单张资金限额不超过1000元（四类钱包）",
         "An anonymous consumer (class-4 wallet, phone number only) pays at most ¥1,000 for one purchase"),
    Rule("training_max_sessions", 60, "sessions",
         "校外培训预收费不得超过60课时",
         "A training plan sells at most 60 sessions in advance"),
    Rule("training_max_months", 3, "months",
         "校外培训预收费不得超过3个月",
         "A training plan sells at most 3 months in advance"),
    Rule("cooling_off_min_days", 7, "days",
         "冷静期不少于7天，期内未使用部分全额退还",
         "The cooling-off period is at least 7 days; within it everything left is refunded"),
    Rule("refund_fee_cap_bp", 2_000, "basis points",
         "冷静期后退款手续费不超过未使用部分的20%（平台默认）",
         "After cooling-off, the refund fee is at most 20% of the unused part (platform default)"),
)}


class RuleRefused(Unprocessable):
    code = "prepaid_limit"
    title = "Outside the prepaid limits"


def value(code: str) -> int:
    """Return the rule's current value (its row, else the default)."""
    row = db.session.get(PrepaidRule, code)
    return row.value if row is not None else RULES[code].default


def refuse(code: str, detail: str, *, field: str, limit: int | None = None) -> RuleRefused:
    """Return the refusal naming rule ``code`` and ``field``."""
    rule = RULES[code]
    return RuleRefused(f"{detail} ({rule.en}; {rule.zh})", field=field, rule=code,
                       limit=value(code) if limit is None else limit)


def listing() -> list[dict]:
    """Return every rule with its current value and default."""
    rows = {r.code: r for r in db.session.execute(select(PrepaidRule)).scalars()}
    return [{"code": r.code, "value": rows[r.code].value if r.code in rows else r.default, "default": r.default,
             "unit": r.unit, "zh": r.zh, "en": r.en} for r in RULES.values()]


def set_value(user_id: int, code: str, new_value: int) -> None:
    """Change a rule's value (pilot office); commit. Plans already published keep their terms."""
    row = db.session.get(PrepaidRule, code)
    if row is None:
        db.session.add(PrepaidRule(code=code, value=new_value, updated_by_user_id=user_id, updated_at=utcnow()))
    else:
        row.value, row.updated_by_user_id, row.updated_at = new_value, user_id, utcnow()
    db.session.commit()


def seed_reference() -> None:
    """Insert the rules with their defaults, if missing (values someone changed are kept)."""
    have = set(db.session.execute(select(PrepaidRule.code)).scalars())
    for rule in RULES.values():
        if rule.code not in have:
            db.session.add(PrepaidRule(code=rule.code, value=rule.default, updated_at=utcnow()))
    db.session.commit()


def regulator_industries(user_id: int) -> set[str]:
    """Return the industries a regulator supervises."""
    return set(db.session.execute(select(RegulatorIndustry.industry).where(RegulatorIndustry.user_id == user_id))
               .scalars())
