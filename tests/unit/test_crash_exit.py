"""A crashed `paodan worker` ends its process, non-zero, even when Faust's stop hangs (issue 19: a worker
that hung at "Stopping…" after a crash was never restarted by its supervisor)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent("""
    import asyncio, logging, sys, time
    import faustkit.app as fa
    logging.basicConfig(level=logging.INFO)  # as `paodan worker` logs
    fa.CRASH_GRACE_S = 1.0
    app = fa.App("crash-exit-test", broker="kafka://127.0.0.1:9", batch_max=10, store="memory://")
    app.exit_on_crash = {exit_on_crash}
    async def main():
        try:
            await app.crash(RuntimeError("a record the worker cannot get past"))
        except BaseException:
            pass
        time.sleep(8)  # a stop stuck on a producer that never answers
        sys.exit(0)
    asyncio.run(main())
""")


def _run(exit_on_crash: bool) -> tuple[int, float, str]:
    began = time.monotonic()
    done = subprocess.run([sys.executable, "-c", SCRIPT.format(exit_on_crash=exit_on_crash)], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    return done.returncode, time.monotonic() - began, done.stderr


def test_a_crash_ends_the_worker_process_within_the_grace_even_if_stopping_hangs():
    code, took, err = _run(True)
    assert code == 70 and took < 6, (code, took, err[-2000:])
    assert "did not stop within 1 s; exiting" in err


def test_an_app_used_as_a_library_is_left_to_its_owner():
    code, took, _ = _run(False)
    assert code == 0 and took >= 8
