"""Faust behind one door: the only package that imports `faust` or reaches into Faust's or
aiokafka's private parts.

- `app.App`: Faust's app with the consumer below, and a crash that always ends the process.
- `fetches`: the detection agent's records a fetch at a time, and `during` (Faust's current event).
- `tables.Documents`: Faust tables of JSON documents, kept decoded, written in batches.
- `kafka`: aiokafka internals used outside Faust.

Every private API used, what it is for, what would break it and how to check after an upgrade:
faustkit/UPGRADING.md. faust-streaming is pinned exactly (pyproject.toml, requirements.lock), and
tests/unit/test_faustkit_private_api.py fails on another version until the notes are checked.
"""
