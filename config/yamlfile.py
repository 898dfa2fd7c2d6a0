"""YAML loading that remembers where each value came from, so validation errors can name the line.

`load(path)` returns plain dicts and lists (subclasses of them) whose `.lines` map a key or index to its
1-based line in the file. `ConfigError(path, line, message)` formats as `file:line: message`, which is
what editors and CI logs turn into a clickable location.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """One thing wrong at `path:line` — or several (`errors`, each a ConfigError), one per line of the
    message, so a bad file is fixed in one round rather than one error at a time."""

    def __init__(self, path: Path | str, line: int | None, message: str):
        self.path, self.line, self.message = str(path), line, message
        where = f"{path}:{line}" if line else str(path)
        self.errors: list[ConfigError] = [self]
        super().__init__(f"{where}: {message}")

    @classmethod
    def of(cls, errors: list["ConfigError"]) -> "ConfigError":
        """All of `errors` (each possibly several) as one error; the first names path and line."""
        flat = [e for err in errors for e in err.errors]
        first = flat[0]
        out = cls(first.path, first.line, first.message)
        out.errors = flat
        out.args = ("\n".join(str(e.args[0]) for e in flat),)
        return out


class Collect:
    """Run checks, keeping every ConfigError they raise: `with errors.check(): …` per independent part,
    then `errors.raise_any()` once."""

    def __init__(self) -> None:
        self.found: list[ConfigError] = []

    def check(self) -> "_Check":
        return _Check(self)

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError.of(self.found)


class _Check:
    def __init__(self, owner: Collect):
        self.owner = owner

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if isinstance(exc, ConfigError):
            self.owner.found.append(exc)
            return True
        return False


class LineDict(dict):
    lines: dict[Any, int]


class LineList(list):
    lines: dict[int, int]


class _Loader(yaml.SafeLoader):
    pass


def _mapping(loader: _Loader, node: yaml.MappingNode) -> LineDict:
    out = LineDict()
    out.lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in out:
            raise ConfigError(loader.name, key_node.start_mark.line + 1, f"duplicate key {key!r}")
        out[key] = loader.construct_object(value_node, deep=True)
        out.lines[key] = key_node.start_mark.line + 1
    return out


def _sequence(loader: _Loader, node: yaml.SequenceNode) -> LineList:
    out = LineList(loader.construct_object(child, deep=True) for child in node.value)
    out.lines = {i: child.start_mark.line + 1 for i, child in enumerate(node.value)}
    return out


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _sequence)


def load(path: Path | str) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(path, None, "file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(path, None, f"not UTF-8: {exc}") from None
    loader = _Loader(text)
    loader.name = str(path)
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else None
        raise ConfigError(path, line, f"invalid YAML: {exc.problem}") from None
    finally:
        loader.dispose()


def line_of(container: Any, key: Any) -> int | None:
    return getattr(container, "lines", {}).get(key)
