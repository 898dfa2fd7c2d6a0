"""The media store: a directory of decrypted media files named by their WeCom md5sum (CONTRACT §11).

Why a report and not an exception: a missing or bad media file must never stop the text path.
"""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_BYTES = 20 * 1024 * 1024

# Leading bytes of what a chat-archive record may claim to be.
_MAGIC = {
    "image": (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF", b"BM"),
    "voice": (b"#!SILK", b"\x02#!SILK", b"#!AMR"),
}
# WeCom's GetMediaData answers 10010 when the file has expired; the puller writes that as <md5>.err.
_EXPIRED = "10010"
MISSING = "missing"


@dataclass(frozen=True)
class MediaRead:
    data: bytes | None
    reason: str | None  # None when data is good

    @property
    def missing(self) -> bool:
        """Not (yet) in the store, and not known to have expired: worth looking for again later."""
        return self.data is None and (self.reason or "").startswith(MISSING)


def _is_md5(name: str) -> bool:
    return len(name) == 32 and all(c in "0123456789abcdef" for c in name)


def sniff(data: bytes) -> str | None:
    for kind, heads in _MAGIC.items():
        if any(data.startswith(h) for h in heads):
            return kind
    return None


class MediaStore:
    def __init__(self, root: str | os.PathLike, max_bytes: int = DEFAULT_MAX_BYTES):
        self.root = Path(root)
        self.max_bytes = max_bytes

    @classmethod
    def from_env(cls) -> "MediaStore | None":
        root = os.environ.get("PAODAN_MEDIA")
        return cls(root) if root else None

    def put(self, path: str | os.PathLike, md5sum: str | None = None) -> str:
        """Copy one file in under its md5; if a name (or md5sum) is given it must match the bytes."""
        src = Path(path)
        digest = hashlib.md5(src.read_bytes()).hexdigest()
        claimed = (md5sum or (src.stem if _is_md5(src.stem.lower()) else "")).lower()
        if claimed and claimed != digest:
            raise ValueError(f"{src}: md5 {digest} does not match its name {claimed} / md5 与文件名不符")
        self.root.mkdir(parents=True, exist_ok=True)
        dest = self.root / digest
        tmp = dest.with_suffix(".part")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        return digest

    def read(self, md5sum: str | None, kind: str, max_bytes: int | None = None) -> MediaRead:
        """The file's bytes, or why not; `max_bytes` overrides the store's limit (the rules' media.max_megabytes)."""
        limit = self.max_bytes if max_bytes is None else max_bytes
        md5 = (md5sum or "").lower()
        if not _is_md5(md5):
            return MediaRead(None, "no md5sum / 记录无 md5sum")
        path = self.root / md5
        err = self.root / (md5 + ".err")
        if not path.exists():
            if err.exists() and _EXPIRED in err.read_text(errors="replace"):
                return MediaRead(None, "expired (WeCom 10010) / 媒体已过期")
            return MediaRead(None, f"{MISSING} / 媒体文件不存在")
        size = path.stat().st_size
        if size > limit:
            return MediaRead(None, f"oversized {size} > {limit} bytes / 文件过大")
        data = path.read_bytes()
        if hashlib.md5(data).hexdigest() != md5:
            return MediaRead(None, "md5 mismatch / 内容与 md5 不符")
        got = sniff(data)
        if got != kind:
            return MediaRead(None, f"header says {got or 'unknown'}, record says {kind} / 文件头与类型不符")
        return MediaRead(data, None)
