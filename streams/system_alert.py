"""`system.*` alerts: what the pipeline itself wants an operator to see, in the §6 alert shape
(CONTRACT.md §6, "System alerts"), so the board, Redis and ClickHouse carry them like any other."""

from __future__ import annotations

from typing import Any

from detectors.alert import SCHEMA_VERSION, alert_id
from formats.topics import DEADLETTER

SYSTEM_EMPLOYEE = "_system"  # not an employee id: the alert is about the pipeline
POISON_RULE = "system.poison_record"


def poison(topic: str, partition: int, offset: int, error: str, now_ms: int,
           refused: bool = False) -> dict[str, Any]:
    """The alert for a record detection failed on twice — or whose result Kafka refused twice
    (`refused`) — and skipped (it is in `paodan.deadletter`)."""
    where = f"{topic}[{partition}]@{offset}"
    zh, en = (("检测结果两次被 Kafka 拒收", "Kafka refused the detection result twice for")
              if refused else ("检测两次处理", "Detection failed twice on"))
    return {
        "alert_id": alert_id(POISON_RULE, where, offset, offset), "rule": POISON_RULE, "severity": "high",
        "score": 0.0, "employee_id": SYSTEM_EMPLOYEE, "team": "", "branch": "", "ts": now_ms,
        "window": {"start": now_ms, "end": now_ms},
        "title": "一条记录无法检测，已跳过 / A record could not be processed and was skipped",
        "explanation": (f"{zh} {where}{'' if refused else ' 均失败'}，该记录已转入 {DEADLETTER} 并跳过，"
                        f"其后的记录照常检测。原因：{error} / {en} {where}; the record was dead-lettered "
                        f"and skipped, and the records after it are detected as usual. Reason: {error}"),
        "evidence": [{"topic": topic, "id": f"{partition}:{offset}"}],
        "rules_version": "", "detected_at": now_ms, "schema": SCHEMA_VERSION, "revision": 1, "highlights": [],
    }
