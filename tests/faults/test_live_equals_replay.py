"""Live equals replay (issue 19): a worker on the real broker ends with exactly the alerts `paodan replay`
raises from the same records — every alert id's last revision, body for body.

The stream is a simulated company produced as a live feed would come (bench/bench_faults.py's company:
peers, handovers, diversion lines), large enough that notices routed through the internal topics used
to land after the employee's later events (tens of alerts off in a few thousand records). One worker
holds every partition, so the driver applies each notice right after the record that set it off, as
replay does (streams/driver.py), taking the records in the order they were written (faustkit/fetches.py).
Each record carries its own Kafka timestamp, a millisecond after the one before: the order written
is then the file's, also between partitions (a producer's clock gives every record of one millisecond
the same time, and Kafka keeps no order between partitions).
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest

from bench.bench_faults import Drain, alerts_until_quiet, company, compare, expected_alerts, final, position_groups, \
    produce, settled
from bench.bench_worker import end_offsets
from tests.live import Worker, delete_app_topics

pytestmark = pytest.mark.integration


async def test_the_worker_ends_with_replays_alerts(stack):
    tag = uuid.uuid4().hex[:6]
    prefix = f"leq{tag}-"
    records = company(seed=7, size=20, count=12_000, prefix=prefix)
    want = expected_alerts(records, prefix)
    assert len(want) > 50 and any(a["rule"] == "risk.score" for a in want.values())
    with tempfile.TemporaryDirectory() as tmp:
        worker = Worker(Path(tmp), app_id=f"paodan-leq-{tag}", name="leq", env={"PAODAN_OFFSET_RESET": "earliest"})
        await position_groups(stack.kafka, worker.app_id)
        alerts = await Drain(stack.kafka, "paodan.alerts").start()
        worker.start(timeout=180)
        try:
            start = await end_offsets(stack.kafka)
            await produce(stack.kafka, records, rate=2_000, stamped=True)
            await settled(stack.kafka, worker.app_id, start, await end_offsets(stack.kafka), timeout=300)
            bodies = await alerts_until_quiet(alerts, (prefix,), quiet_s=5.0)
        finally:
            await alerts.stop()
            worker.stop()
            await delete_app_topics(stack.kafka, worker.app_id)
    got = final([b for b in bodies if b["employee_id"].startswith(prefix)])
    assert compare(got, want) == (0, 0, 0)
