"""Rules as they judge once a deployment is past its first week: the content detectors' steady state.

The shipped rules configure no own channels, so for the company's first `WARMUP_DAYS` an unknown contact
is low while its channels are learned (detectors/channels.py `warming`). Tests and benchmarks of what a
message says replay each case as a fresh employee, so they judge with the warm-up off."""

from __future__ import annotations

import dataclasses

from config.rules import Rules


def settled(rules: Rules) -> Rules:
    limits = rules.rule("chat.content")
    return dataclasses.replace(rules, sections={**rules.sections,
                                                "chat.content": dataclasses.replace(limits, learn_warmup=False)})
