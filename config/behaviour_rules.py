"""Typed rule sections of the behaviour detectors (contacts, follow-up, orders, conversion, commission,
HR, risk, alert hygiene), registered in config.rules.RULE_PARSERS.

Each section is a frozen dataclass whose fields are the section's keys, with their defaults. One
generic parser checks every key: unknown keys, wrong types and out-of-range numbers fail with the
file and line (ConfigError), like the rest of the rules file. Ranges live beside the field
(`field(metadata={"range": (lo, hi)})`), so adding a threshold is one line here and one in rules.yaml.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from config.yamlfile import Collect, ConfigError, line_of

SEVERITIES = ("info", "low", "medium", "high", "critical")


def _r(default: Any, lo: float, hi: float) -> Any:
    return field(default=default, metadata={"range": (lo, hi)})


def _one_of(default: str, choices: tuple[str, ...]) -> Any:
    return field(default=default, metadata={"choices": choices})


@dataclass(frozen=True)
class WindowsRule:
    """Event time: how late an event may be, and what counts as working time."""
    lateness_minutes: int = _r(360, 0, 10_080)     # events older than watermark - lateness are dropped
    day_close_grace_minutes: int = _r(480, 0, 1_440)  # a local day closes this long after midnight
    history_days: int = _r(35, 8, 120)             # daily counters kept per employee
    work_start_hour: int = _r(9, 0, 23)
    work_end_hour: int = _r(18, 1, 24)
    weekend_days: tuple = (5, 6)                   # Monday = 0
    min_history_days: int = _r(7, 1, 60)          # active working days before any own-baseline alert
    min_peers: int = _r(3, 1, 1000)                # colleagues a peer group needs (team, else branch)
    crowd_share: float = _r(0.5, 0.0, 1.0)        # a check met by this share of the group is its norm


@dataclass(frozen=True)
class ContactsRule:
    enabled: bool = True
    deletes_per_hour: int = _r(5, 1, 1000)          # employee deleted customers
    deletes_per_day: int = _r(10, 1, 10_000)
    deleted_by_customers_per_day: int = _r(5, 1, 10_000)
    transfer_fails_per_day: int = _r(4, 1, 10_000)
    resignation_window_days: int = _r(30, 1, 365)   # a burst this close to a resignation is critical


@dataclass(frozen=True)
class FollowupRule:
    enabled: bool = True
    others_customers_max: int = _r(5, 1, 1000)      # more than this many distinct => violation
    others_window_hours: int = _r(24, 1, 720)       # a burst: written to within this many hours (≤ others_days)
    others_days: int = _r(7, 2, 30)                 # a habit: distinct others' customers over these days
    others_min: int = _r(4, 1, 1000)                # at least this many in the window
    others_ratio: float = _r(3.0, 1.0, 100.0)       # and this × the own norm and × the peers' mean
    rate_baseline_days: int = _r(14, 3, 60)
    rate_recent_days: int = _r(5, 1, 30)
    rate_drop_ratio: float = _r(0.6, 0.05, 1.0)     # recent <= baseline * ratio
    rate_min_baseline: float = _r(0.05, 0.0, 1.0)   # share of own customers followed up per day
    reply_timeout_minutes: int = _r(30, 1, 10_080)  # working minutes: a quicker reply is never slow
    reply_timeouts_per_day: int = _r(4, 1, 1000)   # slow replies a day, at least
    reply_cap_minutes: int = _r(480, 10, 10_080)   # a question unanswered this long counts as this delay
    peer_ratio: float = _r(3.0, 1.0, 100.0)        # slow = this × the peers' typical reply delay
    own_ratio: float = _r(2.0, 1.0, 100.0)         # and this × the employee's own typical delay
    reply_days: int = _r(3, 1, 5)                  # slow on this many of the last five working days
    reply_own_z: float = _r(3.0, 0.0, 20.0)        # the last five days' delays this many standard errors above own
    exempt_phrases: tuple = ("好的", "谢谢", "收到", "ok", "嗯", "👌", "再见", "拜拜")
    stalled_days: int = _r(3, 1, 90)               # a created order with no payment nor chat
    stalled_orders: int = _r(3, 1, 1000)
    stalled_surprise: float = _r(0.001, 0.0, 1.0)  # that many of the orders due would stall by chance


@dataclass(frozen=True)
class OrdersRule:
    enabled: bool = True
    baseline_days: int = _r(14, 3, 60)
    min_baseline_days: int = _r(5, 1, 60)
    spike_ratio: float = _r(2.5, 1.1, 100.0)         # today / own mean
    spike_min_orders: int = _r(6, 1, 10_000)
    spike_severity: str = _one_of("low", SEVERITIES)  # a spike alone is context; with missing details high
    peer_ratio: float = _r(2.0, 1.0, 100.0)          # own ratio / team median ratio
    incomplete_min: int = _r(3, 1, 10_000)
    incomplete_share: float = _r(0.4, 0.0, 1.0)
    approval_amount: float = _r(0.0, 0.0, 1e12)      # a line set by the company; 0 = learn the practice
    approval_norm_share: float = _r(0.9, 0.5, 1.0)   # approved share that makes approval the norm
    approval_min_orders: int = _r(20, 1, 100_000)    # paid orders seen before the practice is judged
    approval_chain: tuple = ("manager", "finance")   # roles that approve, in order
    approvers: tuple = ()                            # user ids of approvers outside the directory's manager
    big_order_ratio: float = _r(5.0, 1.5, 1000.0)    # one order / own typical (median) order amount
    big_min_orders: int = _r(3, 1, 1000)             # own orders before an order is judged big
    big_product_orders: int = _r(5, 1, 1000)         # orders of a product alone before its usual amount is known
    own_ratio: float = _r(2.0, 1.0, 100.0)           # incomplete share / own usual share
    incomplete_surprise: float = _r(0.001, 0.0, 1.0)  # chance of that many incomplete at the usual share
    others_customer_min: int = _r(2, 1, 1000)        # orders credited on others' customers per day


@dataclass(frozen=True)
class ConversionRule:
    enabled: bool = True
    window_days: int = _r(7, 3, 60)
    new_customer_days: int = _r(30, 1, 365)
    min_new_customers: int = _r(4, 1, 10_000)
    new_conversion_min: float = _r(0.7, 0.0, 1.0)     # suspiciously high
    repeat_drop_ratio: float = _r(0.4, 0.0, 1.0)      # recent repeat rate <= baseline * ratio
    min_baseline_repeat: int = _r(3, 1, 10_000)       # repeat purchases in the baseline window, at least
    peer_ratio: float = _r(0.6, 0.0, 1.0)             # own drop ratio <= team median drop * this
    surprise: float = _r(0.001, 0.0, 1.0)             # both together at most this likely by chance


@dataclass(frozen=True)
class CommissionRule:
    enabled: bool = True
    use_policy: bool = False                           # over_claim checks the rates below only when true
    peer_norm: bool = True                             # over_claim against what colleagues were paid per store/SKU
    peer_min_colleagues: int = _r(2, 1, 1000)         # colleagues paid for the SKU in the store, at least
    peer_min_claims: int = _r(2, 1, 1000)             # orders above what colleagues were paid, in the window
    peer_window_days: int = _r(7, 1, 90)             # those orders recur within this many days
    peer_own_min: int = _r(3, 0, 10_000)              # own commissioned orders seen before any judgement
    default_rate: float = _r(0.03, 0.0, 1.0)
    tolerance: float = _r(0.1, 0.0, 10.0)             # claimed may exceed policy by this share
    by_store: dict = field(default_factory=dict)      # store_id -> rate
    by_sku_prefix: dict = field(default_factory=dict)  # sku prefix -> rate (longest prefix wins)
    monthly_tiers: tuple = (40, 80)                    # paid orders a month where the rate steps up
    split_min_orders: int = _r(3, 2, 1000)            # same customer, same day
    split_sitting_minutes: int = _r(60, 1, 1440)     # parts entered this close together are one sitting


@dataclass(frozen=True)
class HrRule:
    enabled: bool = True
    leave_window_days: int = _r(14, 1, 90)
    leave_days_min: int = _r(3, 1, 90)
    leave_orders_min: int = _r(2, 1, 10_000)          # orders created during leave in the window
    lookback_days: int = _r(21, 1, 120)
    sensitivity: float = _r(0.5, 0.05, 1.0)          # thresholds are multiplied by this after notice
    lookback_surprise: float = _r(0.001, 0.0, 1.0)   # customers' deletions/failed transfers: this unlikely at own rate
    handover_days: int = _r(3, 1, 90)                # a leaver's customers still unassigned this long after last_day


@dataclass(frozen=True)
class RiskRule:
    enabled: bool = True
    half_life_days: float = _r(7.0, 0.1, 365.0)
    scale: float = _r(60.0, 1.0, 10_000.0)           # score = 100 * (1 - exp(-points / scale))
    levels: dict = field(default_factory=lambda: {"low": 25, "medium": 45, "high": 65, "critical": 85})
    weights: dict = field(default_factory=lambda: {"default": 20})  # alert rule -> points at medium
    severity_factor: dict = field(default_factory=lambda: {"info": 0.0, "low": 0.5, "medium": 1.0,
                                                            "high": 1.6, "critical": 2.5})
    # Context, not evidence: these add points but never make the evidence independent.
    context_rules: tuple = ("followup.reply_timeout", "followup.stalled")
    # Chat alerts (chat.*) count from this severity; a revision below it withdraws the alert's points.
    chat_min_severity: str = _one_of("medium", SEVERITIES)
    # Chat alone stays below the low line unless its alerts span this many local days and customers.
    chat_alone_days: int = _r(2, 1, 365)
    chat_alone_customers: int = _r(2, 1, 10_000)


@dataclass(frozen=True)
class DivertedRule:
    """chat.diverted_customer: a customer steered away in chat who then stops buying (detectors/diverted.py)."""
    enabled: bool = True
    steer_min_severity: str = _one_of("medium", SEVERITIES)  # chat alerts that count as a steer
    window_days: int = _r(30, 1, 120)              # what happens this long after the steer belongs to it
    quiet_min_days: int = _r(14, 1, 120)           # stopped buying: no order for at least this long
    gap_ratio: float = _r(2.0, 1.0, 100.0)         # and this × the customer's own typical gap between orders
    min_orders: int = _r(2, 1, 1000)               # the customer's own orders before the steer, to judge a gap
    cancel_norm_share: float = _r(0.34, 0.0, 1.0)  # a customer who cancels more than this share: their habit
    max_watched: int = _r(60, 1, 10_000)           # steered customers watched per employee (bounded state)
    price_window_hours: int = _r(24, 0, 720)       # a customer's price question this long before opens the story


@dataclass(frozen=True)
class DripRule:
    """chat.slow_drip: private contacts or channels shared with many customers over days (detectors/drip.py)."""
    enabled: bool = True
    rules: tuple = ("chat.private_contact", "chat.external_shop", "chat.offline_payment", "chat.diversion_phrase")
    min_severity: str = _one_of("low", SEVERITIES)  # shares from this severity; below it a revision withdraws
    phrase_min_severity: str = _one_of("medium", SEVERITIES)  # diversion_phrase: its low hits are words, not shares
    recent_days: int = _r(7, 1, 60)                # the stretch judged
    baseline_days: int = _r(28, 1, 60)             # the own norm: the days before (within history_days)
    min_customers: int = _r(5, 2, 1000)            # distinct customers shared with in the stretch, at least
    min_days: int = _r(3, 1, 60)                   # on this many different days (a burst is chat.* already)
    own_ratio: float = _r(3.0, 1.0, 100.0)         # × the own norm for the same number of active days
    peer_ratio: float = _r(3.0, 1.0, 100.0)        # × the peer group's median


@dataclass(frozen=True)
class HygieneRule:
    cooldown_hours: int = _r(24, 0, 720)   # a new signal of the same group within this updates the alert
    max_evidence: int = _r(30, 1, 1000)


SECTIONS: dict[str, type] = {
    "windows": WindowsRule, "contacts": ContactsRule, "followup": FollowupRule, "orders": OrdersRule,
    "conversion": ConversionRule, "commission": CommissionRule, "hr": HrRule, "risk": RiskRule,
    "hygiene": HygieneRule, "diverted": DivertedRule, "drip": DripRule,
}


def _fail(path: Path, line: int | None, message: str) -> None:
    raise ConfigError(path, line, message)


def _check(name: str, f: dataclasses.Field, value: Any, section: dict, path: Path) -> Any:
    line = line_of(section, f.name)
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
    what = f"{name}.{f.name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            _fail(path, line, f"`{what}` must be true or false")
    elif isinstance(default, (int, float)):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok and isinstance(default, int) and not isinstance(value, int):
            ok = False
        lo, hi = f.metadata.get("range", (float("-inf"), float("inf")))
        if not ok or not lo <= value <= hi:
            kind = "an integer" if isinstance(default, int) else "a number"
            _fail(path, line, f"`{what}` must be {kind} from {lo:g} to {hi:g}, got {value!r}")
        value = float(value) if isinstance(default, float) else value
    elif isinstance(default, str):
        choices = f.metadata.get("choices")
        if not isinstance(value, str) or (choices and value not in choices):
            _fail(path, line, f"`{what}` must be one of {', '.join(choices)}, got {value!r}" if choices
                  else f"`{what}` must be a string")
    elif isinstance(default, tuple):
        if not isinstance(value, list):
            _fail(path, line, f"`{what}` must be a list")
        value = tuple(value)
    elif isinstance(default, dict):
        if not isinstance(value, dict):
            _fail(path, line, f"`{what}` must be a mapping")
        for k, v in value.items():
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                _fail(path, line_of(value, k) or line, f"`{what}.{k}` must be a non-negative number")
        value = dict(value)
    return value


def parser_for(name: str, cls: type) -> Callable[[dict, Path], Any]:
    fields = {f.name: f for f in dataclasses.fields(cls)}

    def parse(section: dict, path: Path) -> Any:
        errors, values = Collect(), {}
        for key, value in section.items():
            with errors.check():
                if key not in fields:
                    _fail(path, line_of(section, key),
                          f"unknown key {key!r} in {name} (allowed: {', '.join(sorted(fields))})")
                values[key] = _check(name, fields[key], value, section, path)
        errors.raise_any()
        if name == "risk" and "levels" in values:
            for level in values["levels"]:
                if level not in SEVERITIES:
                    _fail(path, line_of(section, "levels"), f"risk level {level!r} must be a severity")
        return cls(**values)

    return parse


PARSERS: dict[str, Callable[[dict, Path], Any]] = {name: parser_for(name, cls) for name, cls in SECTIONS.items()}
