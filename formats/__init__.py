"""The bottom of the project's I/O: record formats and the one list of topics.

`records` decodes and validates the contract's records into the detectors' typed events
(detectors/events.py), `deadletter` is the dead-letter record, `topics` names, describes and creates
every topic. Nothing here imports Faust, Redis or ClickHouse; `ingest/`, `streams/`, `sinks/`, the
board and the CLI import from here, never from each other for these.
"""
