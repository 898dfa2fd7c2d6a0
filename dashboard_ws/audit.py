"""Audit rows written straight to ClickHouse `alert_actions` by the board (sign-ins, privilege changes,
actions through WeCom), before the change they record is made: if the row cannot be written, the change
is not made. Same columns as the triage actions the relay archives (sinks.clickhouse.rows.action_row).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from config.settings import Settings
from dashboard_ws.lifecycle import ActionError
from sinks.clickhouse.connection import Archive, ClickHouseArchive
from sinks.clickhouse.rows import action_row
from sinks.clickhouse.schema import ALERT_ACTIONS


class AuditUnavailable(ActionError):
    """The audit row could not be written; str() is safe to show."""

    def __init__(self, message: str):
        super().__init__("audit_unavailable", message)


class Audit:
    def __init__(self, settings: Settings | None = None, archive: Archive | None = None):
        self.settings = settings
        self._archive = archive
        self._lock = asyncio.Lock()  # one clickhouse-driver connection, one thread at a time

    def _connection(self) -> Archive:
        if self._archive is None:
            assert self.settings is not None
            self._archive = ClickHouseArchive.from_settings(self.settings)
        return self._archive

    async def query(self, fn, *args):
        """Run `fn(archive, *args)` in a thread on the shared connection."""
        async with self._lock:
            try:
                return await asyncio.to_thread(fn, self._connection(), *args)
            except Exception:
                self._archive = None if self.settings is not None else self._archive
                raise

    async def write(self, *, action: str, actor: str, actor_role: str, detail: dict[str, Any],
                    alert_id: str = "", employee_id: str = "", team: str = "", status: str = "") -> str:
        """One row; its action_id. AuditUnavailable if ClickHouse did not take it."""
        action_id = secrets.token_hex(16)
        row = action_row({"action_id": action_id, "alert_id": alert_id, "employee_id": employee_id,
                          "team": team, "action": action, "actor": actor, "actor_role": actor_role,
                          "ts": int(time.time() * 1000), "status": status, "detail": detail})
        try:
            await self.query(lambda archive: archive.insert(ALERT_ACTIONS, [row]))
        except Exception as exc:  # noqa: BLE001 - whatever broke, the change must not go ahead unaudited
            raise AuditUnavailable(f"审计记录写入失败，操作未执行 / the audit row could not be written, nothing "
                                   f"was done ({type(exc).__name__})") from exc
        return action_id
