"""Prometheus `/metrics` for every Paodan Sentinel server: the text exposition format (`exposition`), the
pipeline's figures read from Kafka and ClickHouse (`pipeline`), and the hooks of the board and the ingest
server (`servers`). See docs/metrics.md."""
