"""`@record`: a frozen dataclass that is quick to build.

The detectors build several small immutable values per event (the event itself, the chat touch,
parts, signals). A frozen dataclass's generated `__init__` has to set every field through
`object.__setattr__` (its own `__setattr__` refuses), which makes it about three times slower to
build than a plain dataclass — measurable when a replay builds a million of them. `record` makes
the very same frozen dataclass (immutable, hashable, compared by value, same repr and fields) and
gives it an `__init__` that fills the instance's `__dict__` directly.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import TypeVar

T = TypeVar("T")


def record(cls: type[T]) -> type[T]:
    cls = dataclass(frozen=True)(cls)
    params, body = [], []
    env: dict[str, object] = {"_MISSING": MISSING}
    for f in fields(cls):
        if not f.init or f.kw_only:
            raise TypeError(f"@record supports plain fields only ({cls.__name__}.{f.name})")
        if f.default is not MISSING:
            env[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
        elif f.default_factory is not MISSING:
            env[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    if {f.name} is _MISSING: {f.name} = _f_{f.name}()")
        else:
            params.append(f.name)
        body.append(f"    d[{f.name!r}] = {f.name}")
    post = "    self.__post_init__()\n" if hasattr(cls, "__post_init__") else ""
    source = f"def __init__(self, {', '.join(params)}):\n    d = self.__dict__\n" + "\n".join(body) + "\n" + post
    exec(source, env)  # noqa: S102 — generated from the class's own field names, as dataclasses does
    init = env["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    cls.__init__ = init
    return cls


def field_names(cls: type) -> tuple[str, ...]:
    """A record's field names, in order (its positional arguments)."""
    return tuple(f.name for f in fields(cls))
