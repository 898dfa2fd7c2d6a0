"""`paodan rules calibrate` as an operator runs it: on a generated replay file, and on the archive."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.integration.test_archive_cli import archive, paodan  # noqa: F401  (the scratch archive fixture)
from tests.live import REPO

pytestmark = pytest.mark.integration


def test_calibrate_a_replay_file_writes_a_rules_file_validate_accepts(tmp_path):
    from ingest.companies.generate import generate

    gen = generate("jiaju", "dev", staff=14, days=18)
    records = tmp_path / "company.jsonl"
    records.write_bytes(b"\n".join(gen.lines) + b"\n")
    out = tmp_path / "calibrated.yaml"
    done = subprocess.run([sys.executable, "-m", "paodan", "rules", "calibrate", str(records), "--out", str(out),
                           "--json"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["records"] == len(gen.lines) and report["employees"] >= 14
    assert report["rules"] and all(r["employees_flagged"] <= report["employees"] for r in report["rules"].values())
    assert "已写入 wrote" in done.stderr
    valid = subprocess.run([sys.executable, "-m", "paodan", "rules", "validate", str(out)], cwd=REPO,
                           capture_output=True, text=True, timeout=60)
    assert valid.returncode == 0 and "calibrated" in valid.stdout, valid.stderr
    human = subprocess.run([sys.executable, "-m", "paodan", "rules", "calibrate", str(records)], cwd=REPO,
                           capture_output=True, text=True, timeout=300)
    assert human.returncode == 0 and "建议阈值 suggested thresholds" in human.stdout


def test_calibrate_since_reads_the_archive(archive):  # noqa: F811
    done = paodan(archive, "rules", "calibrate", "--since", "7d", "--json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    assert report["records"] == 11 and report["bad_records"] == 0  # as `rules backtest` reads the same archive
    assert report["rules"]["chat.diversion_phrase"]["employees_flagged"] == 2
    assert "天 days）" in done.stderr  # progress per day
