"""The rules the worker runs with, reloaded without a restart when their files change.

At start-up the rules file and its lexicons are loaded and validated (a bad file stops start-up with
the file and line). Afterwards a Faust timer on every worker looks at the files every
`RELOAD_INTERVAL_S` seconds: when a file's mtime or size changed *and* the bytes' hash differs, the
whole set is loaded again. A valid new set replaces the old one for the next record (alerts then
carry its `rules_version`); an invalid one is refused — logged with file:line — and the old rules keep
running until the file is fixed. The check is cheap (a few `stat` calls), so every worker notices an
edit within seconds.

Rules can also be *published* (`paodan rules publish`, streams/rules_bundle.py) to reach workers on
machines that do not share the file: streams/rules_feed.py hands each published bundle to
`apply_published`, which validates it the same way. Whichever changes last — the file or the
published version — is what runs; at start-up a published version runs only if it is newer than the
file's. The file keeps being watched while a published version runs.
"""

from __future__ import annotations

import logging
import time
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
    """Holds the rules in force and swaps them when `check()` finds a valid edit of the file or
    `apply_published()` gets a valid published bundle: the latest change wins, whichever its source."""

    def __init__(self, path: Path | str, published_dir: Path | str | None = None):
        self.path = Path(path)
        self.published_dir = Path(published_dir) if published_dir else None
        self.rules: Rules = _prepare(load_rules(self.path))
        self.origin = "file"  # or "published"
        self.bundle: dict | None = None  # the header of the published bundle in force
        # The file's own sources and digest: watched even while a published version runs.
        self._file_sources, self._file_digest = self.rules.sources, self.rules.digest
        self._stamp = _stamp(self._file_sources)
        self._file_refused = False
        self.refused: str | None = None  # the last refusal (file:line: reason), until a good reload

    def check(self) -> str | None:
        """Reload if the files changed: "reloaded", "refused" or None (nothing to do)."""
        stamp = _stamp(self._file_sources)
        if stamp == self._stamp:
            return None
        self._stamp = stamp  # a refused edit is reported once, not on every tick
        if sources_digest(self._file_sources) == self._file_digest and not self._file_refused:
            return None  # touched, same bytes
        old = self.rules
        try:
            new = _prepare(load_rules(self.path))
        except ConfigError as exc:
            self.refused, self._file_refused = str(exc), True
            log.error("rules reload refused, still running version %s: %s", old.version, exc)
            return "refused"
        self._file_refused = False
        self._file_sources, self._file_digest = new.sources, new.digest
        self._stamp = _stamp(new.sources)  # a lexicon may have been added
        self._swap(new, "file", None)
        if new.version == old.version and new.digest != old.digest:
            log.warning("rules files changed but `version` is still %s: bump it so alerts tell the "
                        "rule sets apart", new.version)
        log.info("rules reloaded: version %s -> %s (%d terms) from %s", old.version, new.version,
                 len(new.lexicon.terms()), new.path)
        return "reloaded"

    def apply_published(self, value: bytes | None, only_if_newer: bool = False) -> str | None:
        """Run a bundle from the rules topic: "applied", "refused" or None (already running it, or —
        with `only_if_newer`, at start-up — its version is not newer than the rules in force)."""
        from streams import rules_bundle

        old = self.rules
        try:
            head = rules_bundle.header(value)
            if head["digest"] == old.digest:
                return None
            if only_if_newer and not rules_bundle.newer(head["version"], old.version):
                log.info("published rules version %s is not newer than %s from %s: running the file",
                         head["version"], old.version, self.path)
                return None
            if self.published_dir is None:
                raise rules_bundle.BundleError("this holder has no directory to unpack bundles into")
            new, head = rules_bundle.unpack(value, self.published_dir)
            new = _prepare(new)
        except (rules_bundle.BundleError, OSError) as exc:
            self.refused = f"published bundle: {exc}"
            log.error("published rules refused, still running version %s: %s", old.version, exc)
            return "refused"
        self._swap(new, "published", head)
        rules_bundle.prune(self.published_dir, new)
        at = head.get("published_at")
        log.info("published rules applied: version %s -> %s (%d terms, published by %s at %s)", old.version,
                 new.version, len(new.lexicon.terms()), head.get("published_by"),
                 time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at / 1000)) if isinstance(at, int) else "?")
        return "applied"

    def _swap(self, new: Rules, origin: str, bundle: dict | None) -> None:
        self.rules, self.origin, self.bundle, self.refused = new, origin, bundle, None

    def status(self) -> dict:
        """What this worker runs, as `paodan rules published` shows it."""
        bundle = self.bundle or {}
        return {"version": self.rules.version, "digest": self.rules.digest, "origin": self.origin,
                "file": str(self.path), "published_at": bundle.get("published_at"),
                "published_by": bundle.get("published_by"), "refused": self.refused}


_holder: list[RulesHolder] = []


def holder() -> RulesHolder:
    if not _holder:
        from streams.app import settings
        from streams.rules_feed import catch_up

        h = RulesHolder(settings.rules_file, settings.data_dir / "published-rules")
        catch_up(h)  # the latest published version, if newer than the file, before any record is seen
        _holder.append(h)
    return _holder[0]


def current_rules() -> Rules:
    return holder().rules


def _register_timer() -> None:
    from streams.app import app

    @app.timer(interval=RELOAD_INTERVAL_S)
    async def reload_rules() -> None:
        holder().check()


_register_timer()
from streams import rules_feed  # noqa: E402,F401 - registers the task following published rules
