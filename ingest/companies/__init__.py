"""Parametric companies for measuring detection quality (issue 13), independent of ingest/simulator.py.

A profile (`params.draw(name, half)`) fixes everything the detection rules depend on — industry and its
vocabulary, commission policy, approval practice, customers' reply habits, order size and volume, the
company's own channels, team sizes and branches (one in another time zone), working hours and days.
`generate.generate(name, half)` builds that company, lives through its days with background noise
and hard negatives, plants diverters for every scenario, and returns its records in the replay
format (CONTRACT.md §8) with the ground truth. The dev half is for building detectors; the test half
(other seeds, other parameter draws from the same ranges) is scored once per change, never inspected.

Modules: `params` (profiles), `vocab` / `phrases` / `channels` (words and channels), `company`
(people and customers), `life` (ordinary days), `behaviour` (the hooks), `scenarios` (planted),
`lookalikes` (hard negatives), `plan` (who does what when), `records` (contract records), `generate`.
"""
