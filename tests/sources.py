"""The project's own Python outside the tests, parsed: for tests that check what code may name or touch."""

from __future__ import annotations

import ast
import os
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parents[1]


def parsed(skip: tuple[str, ...] = ()) -> Iterator[tuple[str, ast.AST]]:
    """(path relative to the root, parsed module) for every .py file but the tests and `skip` (folders
    ending in "/" or files). Hidden folders (.venv, .stack with a running stack's data) are not walked."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d != "__pycache__")
        for name in sorted(files):
            rel = (Path(folder) / name).relative_to(ROOT).as_posix()
            if name.endswith(".py") and not rel.startswith(("tests/", *skip)) and rel not in skip:
                yield rel, ast.parse((Path(folder) / name).read_text(encoding="utf-8"))
