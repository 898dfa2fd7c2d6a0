"""The Prometheus text exposition format (version 0.0.4), hand-written: counters, gauges and histograms
with labels, rendered on scrape. No client library in the servers: a few dozen lines do."""

from __future__ import annotations

import math
import threading
from typing import Iterable

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Family:
    """One metric with its samples by labels; `kind` is counter, gauge or histogram."""

    def __init__(self, name: str, help_text: str, kind: str, buckets: Iterable[float] = DEFAULT_BUCKETS):
        self.name, self.help, self.kind = name, help_text, kind
        self.buckets = tuple(sorted(buckets))
        self._values: dict[Labels, float] = {}
        self._hist: dict[Labels, list[float]] = {}  # per bucket counts, then sum, then count
        self._lock = threading.Lock()

    @staticmethod
    def _key(labels: dict[str, str] | None) -> Labels:
        return tuple(sorted((labels or {}).items()))

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        with self._lock:
            key = self._key(labels)
            self._values[key] = self._values.get(key, 0.0) + amount

    def set(self, value: float, **labels: str) -> None:
        with self._lock:
            self._values[self._key(labels)] = float(value)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._hist.clear()

    def observe(self, value: float, **labels: str) -> None:
        with self._lock:
            key = self._key(labels)
            h = self._hist.setdefault(key, [0.0] * (len(self.buckets) + 2))
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    h[i] += 1
            h[-2] += value
            h[-1] += 1

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {_escape(self.help)}", f"# TYPE {self.name} {self.kind}"]
        with self._lock:
            if self.kind == "histogram":
                for key, h in sorted(self._hist.items()):
                    for bound, n in zip(self.buckets, h):
                        lines.append(f"{self.name}_bucket{_labels(key + (('le', repr(float(bound))),))} {_number(n)}")
                    lines.append(f"{self.name}_bucket{_labels(key + (('le', '+Inf'),))} {_number(h[-1])}")
                    lines.append(f"{self.name}_sum{_labels(key)} {_number(h[-2])}")
                    lines.append(f"{self.name}_count{_labels(key)} {_number(h[-1])}")
            else:
                for key, value in sorted(self._values.items()):
                    lines.append(f"{self.name}{_labels(key)} {_number(value)}")
        return lines


class Registry:
    def __init__(self) -> None:
        self._families: dict[str, Family] = {}

    def family(self, name: str, help_text: str, kind: str, **kw) -> Family:
        if name not in self._families:
            self._families[name] = Family(name, help_text, kind, **kw)
        return self._families[name]

    def counter(self, name: str, help_text: str) -> Family:
        return self.family(name, help_text, "counter")

    def gauge(self, name: str, help_text: str) -> Family:
        return self.family(name, help_text, "gauge")

    def histogram(self, name: str, help_text: str, buckets: Iterable[float] = DEFAULT_BUCKETS) -> Family:
        return self.family(name, help_text, "histogram", buckets=buckets)

    def render(self) -> bytes:
        lines: list[str] = []
        for family in self._families.values():
            lines += family.render()
        return ("\n".join(lines) + "\n").encode()
