"""`paodan ingest media PATH…`: copy files into the store, one line per file; a bad file is reported, not fatal."""
from __future__ import annotations

import sys

from ingest.media.store import MediaStore


def ingest_paths(paths: list[str], root: str | None) -> int:
    if not root:
        print("paodan ingest media: where is the store? pass --media or set PAODAN_MEDIA / 未配置媒体目录",
              file=sys.stderr)
        return 2
    store, failed = MediaStore(root), 0
    for path in paths:
        try:
            print(f"{store.put(path)}\t{path}")
        except (OSError, ValueError) as exc:
            failed += 1
            print(f"paodan ingest media: {exc}", file=sys.stderr)
    return 1 if failed else 0
