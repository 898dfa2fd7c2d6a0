"""The hooks through which planted scenarios and their innocent look-alikes change a person's days.

A `Behaviour` starts on `onset_day`. Each day it is active it may change the day's habits (`knobs`),
adjust each order before it is booked (`order`) and add records of its own (`extra`). Planted ones
call `Life.mark` with the time of the first record that shows the misbehaviour: the ground truth's
onset (a change of habits shows from the onset day's local midnight).
"""

from __future__ import annotations

import random
from typing import ClassVar


class Behaviour:
    name: ClassVar[str] = ""
    planted: ClassVar[bool] = True

    def __init__(self, person, onset_day: int, variant: str, seed: int):
        self.person = person
        self.onset_day = onset_day
        self.variant = variant            # "plain" or "subtle"
        self.rng = random.Random(seed)

    @property
    def subtle(self) -> bool:
        return self.variant == "subtle"

    def prepare(self, company) -> None:
        """Before the first day: fix what others must know in advance (leave days, a resignation)."""

    def working_days(self, company, first: int | None = None, last: int | None = None) -> list[int]:
        """The person's working days from `first` (default: the onset) up to, not including, `last`."""
        first = self.onset_day if first is None else first
        last = company.profile.days if last is None else min(last, company.profile.days)
        return [d for d in range(first, last) if company.works(self.person, d)]

    def act_on(self, days) -> set[int]:
        """Act on these days only; the onset moves to the first of them."""
        self.days = set(days)
        self.onset_day = min(self.days) if self.days else self.onset_day
        return self.days

    def active(self, day: int) -> bool:
        return day >= self.onset_day

    def knobs(self, day, knobs) -> None:
        pass

    def order(self, day, order) -> None:
        pass

    def extra(self, day) -> None:
        pass
