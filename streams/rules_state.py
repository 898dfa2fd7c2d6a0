"""The rules the worker runs with: loaded and validated once at start-up (a bad file stops start-up
with the file and line)."""

from __future__ import annotations

from functools import lru_cache

from config.rules import Rules, load_rules
from streams.app import settings


@lru_cache(maxsize=1)
def current_rules() -> Rules:
    return load_rules(settings.rules_file)
