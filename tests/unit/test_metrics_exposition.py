"""The hand-written exposition format (metrics/exposition.py) as Prometheus' own parser reads it."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from metrics.exposition import Registry


def test_counters_gauges_and_histograms_parse_with_their_labels():
    r = Registry()
    c = r.counter("paodan_x_total", "things counted")
    c.inc(route="/orders", status="401")
    c.inc(2, route="/orders", status="401")
    g = r.gauge("paodan_y", 'a "quoted" help\\with a backslash')
    g.set(1.5, rule='chat.a"b', team="华东\n一组")
    h = r.histogram("paodan_z_seconds", "latency", buckets=(0.1, 1.0))
    for v in (0.05, 0.5, 3.0):
        h.observe(v, route="/hr")
    families = {f.name: f for f in text_string_to_metric_families(r.render().decode())}
    assert families["paodan_x"].type == "counter"
    [s] = families["paodan_x"].samples
    assert (s.name, s.labels, s.value) == ("paodan_x_total", {"route": "/orders", "status": "401"}, 3.0)
    [s] = families["paodan_y"].samples
    assert s.labels == {"rule": 'chat.a"b', "team": "华东\n一组"} and s.value == 1.5
    got = {(s.name, s.labels.get("le")): s.value for s in families["paodan_z_seconds"].samples}
    assert got == {("paodan_z_seconds_bucket", "0.1"): 1.0, ("paodan_z_seconds_bucket", "1.0"): 2.0,
                   ("paodan_z_seconds_bucket", "+Inf"): 3.0, ("paodan_z_seconds_sum", None): 3.55,
                   ("paodan_z_seconds_count", None): 3.0}


def test_cleared_families_drop_their_samples():
    r = Registry()
    g = r.gauge("paodan_lag", "lag")
    g.set(5, group="a")
    g.clear()
    g.set(1, group="b")
    [family] = text_string_to_metric_families(r.render().decode())
    assert [s.labels for s in family.samples] == [{"group": "b"}]
