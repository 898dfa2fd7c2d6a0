"""Settings of the tamper-evident archive (sinks/chain.py): whether the archive chains what it writes,
the deployment's signing key and where the signed checkpoints are kept outside ClickHouse.

The signing key is an Ed25519 private key (PEM). Read from PAODAN_CHAIN_KEY (a file path), else a key
made once beside the stack's data (`.stack/chain-key.pem`, mode 0600) with its public half next to it
(`chain-key.pub.pem`, what an auditor needs to check checkpoints). The key is never printed or logged.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from config.settings import REPO_ROOT, SettingsError
from formats import topics


@dataclass(frozen=True)
class ChainSettings:
    # Off only for measuring what chaining costs (bench/bench_archive.py); verification then fails.
    enabled: bool = True
    key_file: Path = REPO_ROOT / ".stack" / "chain-key.pem"
    # Every checkpoint, one signed JSON object a line (appended by each archive process).
    checkpoint_file: Path = REPO_ROOT / ".stack" / "chain" / "checkpoints.jsonl"
    # Compacted topic: the latest checkpoint of every chain (keyed by the chain).
    checkpoint_topic: str = topics.CHAIN
    # How long the archive consumer gathers chain blocks before inserting them (one `archive_chain`
    # insert, one checkpoint per chain, one offset commit for all the batches meanwhile): an insert's
    # fixed cost on the server, not hashing, is most of what chaining costs.
    flush_s: float = 5.0

    @property
    def public_key_file(self) -> Path:
        return self.key_file.with_name(self.key_file.stem + ".pub.pem")


def load_chain(env: dict[str, str] | None = None) -> ChainSettings:
    env = dict(os.environ if env is None else env)
    stack_dir = Path(env.get("PAODAN_STACK_DIR") or REPO_ROOT / ".stack")
    flag = (env.get("PAODAN_ARCHIVE_CHAIN") or "1").strip().lower()
    if flag not in ("1", "0", "true", "false", "on", "off"):
        raise SettingsError(f"PAODAN_ARCHIVE_CHAIN={flag!r}: expected 1 or 0")
    topic = env.get("PAODAN_CHAIN_TOPIC") or topics.CHAIN
    raw_flush = env.get("PAODAN_CHAIN_FLUSH_S") or "5"
    try:
        flush_s = float(raw_flush)
    except ValueError:
        flush_s = -1.0
    if not 0 <= flush_s <= 300:
        raise SettingsError(f"PAODAN_CHAIN_FLUSH_S={raw_flush!r}: expected seconds from 0 to 300")
    return ChainSettings(
        enabled=flag in ("1", "true", "on"),
        key_file=Path(env.get("PAODAN_CHAIN_KEY") or stack_dir / "chain-key.pem"),
        checkpoint_file=Path(env.get("PAODAN_CHAIN_CHECKPOINTS") or stack_dir / "chain" / "checkpoints.jsonl"),
        checkpoint_topic=topic,
        flush_s=flush_s,
    )
