"""Every Kafka topic the project reads or writes (CONTRACT.md §1 and its extensions), in one list:
its name, what its key is, how many partitions it has, whether it is compacted, and how to create it.

Other modules name topics only through this module. A topic's partition count is either the shared
count (`settings.partitions`: input topics share one so an employee's events meet on one worker) or
fixed here. `create` makes whichever of them are missing; the dev stack and the worker both call it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

# --- the contract's topics -------------------------------------------------------------------------
MSGAUDIT = "wecom.msgaudit"
CONTACTS = "wecom.contacts"
ORDERS = "crm.orders"
HR = "hr.events"
ALERTS = "paodan.alerts"
DEADLETTER = "paodan.deadletter"
ALERT_ACTIONS = "paodan.alert_actions"
RISK = "paodan.risk"
# Published rules bundles and archive chain checkpoints: the defaults of PAODAN_RULES_TOPIC and
# PAODAN_CHAIN_TOPIC (config/settings.py, config/chain.py).
RULES = "paodan.rules"
CHAIN = "paodan.archive.chain"
# Not a topic: where a dead letter says a record came from when the callback receiver refused it
# before it reached any topic (ingest/callback.py).
CALLBACK_SOURCE = "wecom.callback"

# Where the callback receiver routes each decrypted WeCom event, by its `Event` (WECOM.md §1).
EVENT_TOPICS = {
    "change_external_contact": CONTACTS,
    "change_external_chat": "wecom.events.external_chat",
    "change_external_tag": "wecom.events.external_tag",
    "msgaudit_notify": "wecom.events.msgaudit_notify",
    "sys_approval_change": "wecom.events.approval",
}

# The engine's internal topics by their logical names (what detectors and replay call them); the
# worker's own topics carry its application id (`internal`), like Faust's changelogs, so two
# applications on one cluster never read each other's.
TEAM_DAYS = "paodan.team-days"  # keyed by team: an employee's closed-day summary
NOTICES = "paodan.behaviour"    # keyed by employee: notices and peer signals for that employee


def internal(app_id: str) -> dict[str, str]:
    """Logical internal topic → this application's topic."""
    return {NOTICES: f"{app_id}-behaviour-notices", TEAM_DAYS: f"{app_id}-team-days"}


def media_text(app_id: str) -> str:
    """What images and voice say, as text records keyed by employee (streams/media_agent.py)."""
    return f"{app_id}-media-text"


INPUTS = (MSGAUDIT, CONTACTS, ORDERS, HR)
OUTPUTS = (ALERTS, DEADLETTER, ALERT_ACTIONS, RISK)
WECOM_EVENTS = tuple(t for t in EVENT_TOPICS.values() if t not in INPUTS)

# The largest rules bundle a worker accepts (streams/rules_bundle.py); the topic allows a little more.
RULES_MAX_BYTES = 8 << 20
RULES_CONFIG = {"cleanup.policy": "compact", "max.message.bytes": str(RULES_MAX_BYTES + (1 << 20))}
COMPACT = {"cleanup.policy": "compact"}


@dataclass(frozen=True)
class Topic:
    name: str
    key: str                      # what the key is: every topic's records are routed by it
    partitions: int | None = None  # None: the shared count (settings.partitions)
    config: dict[str, str] = field(default_factory=dict)  # e.g. compaction (COMPACT)


TOPICS = {t.name: t for t in (
    Topic(MSGAUDIT, "employee id (the internal party of this copy, CONTRACT.md §2)"),
    Topic(CONTACTS, "employee id (UserID)"),
    Topic(ORDERS, "employee id"),
    Topic(HR, "employee id"),
    Topic(ALERTS, "employee id of the alert"),
    Topic(DEADLETTER, "the rejected record's own key"),
    Topic(ALERT_ACTIONS, "employee id of the alert, like paodan.alerts (one worker folds both)"),
    Topic(RISK, "employee id"),
    *(Topic(t, "the event's employee or chat id") for t in WECOM_EVENTS),
)}


def shared(settings) -> list[Topic]:
    """The topics every deployment has: the contract's, WeCom's other events and the rules topic."""
    return [*TOPICS.values(), rules(settings.rules_topic)]


def rules(name: str) -> Topic:
    """The published rules (streams/rules_bundle.py): one partition, so every worker reads one log."""
    return Topic(name, "b'rules' (compaction keeps the latest bundle)", 1, RULES_CONFIG)


# --- creation --------------------------------------------------------------------------------------

def create_topics(settings, extra: tuple[str, ...] = (), compacted: dict[str, int] | None = None) -> list[str]:
    """Create the `shared` topics, `extra` (shared partition count) and the `compacted` ones (name →
    partitions: a worker's table changelogs) that do not exist yet; return the names created."""
    wanted = [*shared(settings), *(Topic(name, "employee id or team") for name in extra),
              *(Topic(name, "the table's key", partitions, COMPACT) for name, partitions in (compacted or {}).items())]
    return asyncio.run(create_async(settings.kafka, wanted, settings.partitions))


async def create_async(bootstrap: str, wanted: list[Topic], default_partitions: int) -> list[str]:
    """`create` inside a running event loop; `default_partitions` for the topics without their own."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    specs = {t.name: t for t in wanted}
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [name for name in specs if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics([NewTopic(name, specs[name].partitions or default_partitions, 1,
                                                       topic_configs=specs[name].config)
                                              for name in missing])
        errors = {err[0]: err[1:] for err in response.topic_errors if err[1] not in (0, TOPIC_ALREADY_EXISTS)}
        if errors:
            raise RuntimeError(f"Kafka refused to create topics: {errors}")
        await _until_described(admin, missing)
        # Those another process created meanwhile are not ours.
        return [err[0] for err in response.topic_errors if err[1] == 0]
    finally:
        await admin.close()


TOPIC_ALREADY_EXISTS = 36  # Kafka's error code


async def _until_described(admin, names: list[str], timeout: float = 30.0) -> None:
    """Wait until the broker describes every topic with a leader for each partition. Creating a topic
    returns before the broker's metadata has it: a client that fetches metadata in between (a worker
    starting right away) does not see the topic, and Faust's group assignment then leaves it out until
    the next metadata refresh, five minutes later."""
    deadline = time.monotonic() + timeout
    while True:
        described = await admin.describe_topics(names)
        if all(d["error_code"] == 0 and d["partitions"] and all(p["leader"] >= 0 for p in d["partitions"])
               for d in described):
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"Kafka did not report the new topics {names} within {timeout:.0f}s; "
                               "check the broker's log (`paodan stack status`)")
        await asyncio.sleep(0.1)


def delete_topics(settings, prefix: str) -> list[str]:
    """Delete the topics whose names start with `prefix` (a finished demo's changelogs); return them."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def run() -> list[str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka)
        await admin.start()
        try:
            doomed = sorted(t for t in await admin.list_topics() if t.startswith(prefix))
            if doomed:
                await admin.delete_topics(doomed)
            return doomed
        finally:
            await admin.close()

    return asyncio.run(run())
