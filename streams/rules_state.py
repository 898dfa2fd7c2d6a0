"""The rules the worker runs with, reloaded without a restart when their files change.

At start-up the rules file and its lexicons are loaded and validated (a bad file stops start-up with
the file and line). Afterwards a Faust timer on every worker looks at the files every
`RELOAD_INTERVAL_S` seconds: when a file's mtime or size changed *and* the bytes' hash differs, the
whole set is loaded again. A valid new set replaces the old one for the next record (alerts then
carry its `rules_version`); an invalid one is refused — logged with file:line — and the old rules keep
running until the file is fixed. The check is cheap (a few `stat` calls), so every worker notices an
edit within seconds.
"""

from __future__ import annotations

import logging
from pathlib import Path

from config.rules import Rules, load_rules, sources_digest
from config.yamlfile import ConfigError

log = logging.getLogger(__name__)
RELOAD_INTERVAL_S = 2.0


def _stamp(paths: tuple[Path, ...]) -> tuple:
    out = []
    for p in paths:
        try:
            st = p.stat()
            out.append((str(p), st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((str(p), None, None))
    return tuple(out)


def _prepare(rules: Rules) -> Rules:
    """Build what detection derives from the rules (normalisation table, automata) now, so the
    first message after start-up or a reload is not the one that waits for it."""
    from detectors.content.pipeline import compiled

    compiled(rules)
    return rules


class RulesHolder:
    """Holds the rules in force and swaps them when `check()` finds a valid edit."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.rules: Rules = _prepare(load_rules(self.path))
        self._stamp = _stamp(self.rules.sources)
        self.refused: str | None = None  # the last refusal (file:line: reason), until a good reload

    def check(self) -> str | None:
        """Reload if the files changed: "reloaded", "refused" or None (nothing to do)."""
        stamp = _stamp(self.rules.sources)
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # a refused edit is reported once, not on every tick
        if sources_digest(self.rules.sources) == self.rules.digest and self.refused is None:
            return None  # touched, same bytes
        old = self.rules
        try:
            new = _prepare(load_rules(self.path))
        except ConfigError as exc:
            self.refused = str(exc)
            log.error("rules reload refused, still running version %s: %s", old.version, exc)
            return "refused"
        self.rules, self.refused = new, None
        self._stamp = _stamp(new.sources)  # a lexicon may have been added
        if new.version == old.version:
            log.warning("rules files changed but `version` is still %s: bump it so alerts tell the "
                        "rule sets apart", new.version)
        log.info("rules reloaded: version %s -> %s (%d terms) from %s", old.version, new.version,
                 len(new.lexicon.terms()), new.path)
        return "reloaded"


_holder: list[RulesHolder] = []


def holder() -> RulesHolder:
    if not _holder:
        from streams.app import settings

        _holder.append(RulesHolder(settings.rules_file))
    return _holder[0]


def current_rules() -> Rules:
    return holder().rules


def _register_timer() -> None:
    from streams.app import app

    @app.timer(interval=RELOAD_INTERVAL_S)
    async def reload_rules() -> None:
        holder().check()


_register_timer()
