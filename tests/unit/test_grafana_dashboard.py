"""The shipped Grafana dashboard (docs/grafana/paodan-pipeline.json) asks only for metrics some server
exposes: a renamed or removed metric would leave a panel silently empty."""

from __future__ import annotations

import json
import re
from pathlib import Path

from aiohttp import web

from config.settings import Settings
from metrics import archive, detection, loader
from metrics.exposition import Registry
from metrics.pipeline import PipelineMetrics
from metrics.servers import ServerMetrics, install

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "paodan-pipeline.json"
NAME = re.compile(r"\b(paodan_[a-z_]+)\b")


def exposed() -> set[str]:
    registries = [archive.REGISTRY, detection.REGISTRY, loader.REGISTRY, install(web.Application(), Settings()).registry]
    pipeline = Registry()
    PipelineMetrics(Settings(), pipeline)
    board = ServerMetrics(Settings(), "board").registry
    board.gauge("paodan_board_websocket_clients", "")  # what metrics.servers.board_response adds
    names = set()
    for registry in (*registries, pipeline, board):
        for family in registry._families.values():
            names.add(family.name)
            if family.kind == "histogram":
                names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
    return names


def test_every_panel_queries_metrics_that_exist():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    queries = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(queries) >= 10 and all(p["title"] for p in dashboard["panels"])
    wanted = {name for q in queries for name in NAME.findall(q)}
    assert wanted and wanted <= exposed(), sorted(wanted - exposed())


def test_the_dashboard_covers_detection_archive_loader_and_sinks():
    wanted = {name for p in json.loads(DASHBOARD.read_text(encoding="utf-8"))["panels"] for t in p["targets"]
              for name in NAME.findall(t["expr"])}
    assert {"paodan_detection_batch_seconds_bucket", "paodan_archive_batch_seconds_bucket", "paodan_loader_lines_total",
            "paodan_live_redis_retries_total", "paodan_archive_write_retries_total"} <= wanted
