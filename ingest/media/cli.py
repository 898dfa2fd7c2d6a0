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


def own_codes(paths: list[str]) -> int:
    """`paodan ingest media --own-codes IMAGE…`: the WeCom codes in the company's own QR images, printed as
    `media.own_wecom_codes` lines to paste into the rules file; anything else found is named on stderr."""
    from config.media_rules import WECOM_CODE_HOSTS, normalise_code
    from ingest.media.qr import decode_qr
    from urllib.parse import urlsplit

    failed = 0
    print("    own_wecom_codes:")
    for path in paths:
        try:
            payloads, reason = decode_qr(open(path, "rb").read())
        except OSError as exc:
            payloads, reason = [], str(exc)
        if reason or not payloads:
            failed += 1
            print(f"paodan ingest media: {path}: {reason or 'no QR code / 未找到二维码'}", file=sys.stderr)
        for p in payloads:
            code = normalise_code(p)
            if urlsplit(code).hostname in WECOM_CODE_HOSTS:
                print(f"      - {code}   # {path}")
            else:
                print(f"paodan ingest media: {path}: {p!r} is not a WeCom code / 不是企业微信二维码", file=sys.stderr)
    return 1 if failed else 0
