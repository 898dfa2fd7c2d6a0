"""One profile's company, generated: its records in the replay format and the ground truth about everyone.

Ground truth, per employee: role, team, branch, time zone, first day; `planted` — the scenarios they
carry out with the variant and the onset (epoch ms of the first record showing it); `lookalikes` — the
innocent look-alike roles they play (hard negatives); for planted ones, the private channels they use. An employee without `planted` is innocent
throughout; a planted one is innocent before their earliest onset.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from ingest.companies import clock
from ingest.companies.company import build
from ingest.companies.life import Life
from ingest.companies.params import CORPUS_VERSION, Profile, draw
from ingest.companies.plan import Plan
from ingest.companies.records import Sink


# Roles that look like a scenario by what they do every day: approving others' orders.
ROLE_LOOKALIKES = {"finance": {"finance_approver"}, "branch_head": {"deputy_approver"}, "manager": {"team_manager"}}


@dataclass
class Generated:
    profile: Profile
    lines: list[bytes]
    truth: dict

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for line in self.lines:
            h.update(line)
            h.update(b"\n")
        return h.hexdigest()[:16]


def generate(name: str, half: str = "dev", staff: int = 100, days: int = 28) -> Generated:
    """Archetype `name`'s `half` company with about `staff` salespeople over `days` days."""
    return generate_profile(draw(name, half, staff=staff, days=days))


def generate_profile(profile: Profile) -> Generated:
    company = build(profile)
    sink = Sink(company.corpid)
    plan = Plan(company, random.Random(profile.seed ^ 0x5EED))
    life = Life(company, sink, plan)
    plan.preamble(life)
    for d in range(profile.days):
        life.day(d)
    lines = list(sink.lines())
    return Generated(profile, lines, truth(company, life))


def truth(company, life: Life) -> dict:
    prof = company.profile
    people = {}
    for p in company.people:
        planted = []
        for b in p.scenarios:
            if not b.planted:
                continue
            onset = life.marks.get((p.userid, b.name))
            if onset is None:  # never carried out within the period (e.g. nothing left to divert)
                continue
            planted.append({"scenario": b.name, "variant": b.variant, "onset": onset})
        people[p.userid] = {
            "role": p.role, "team": p.team, "branch": p.branch.branch_id, "timezone": p.branch.tz,
            "start_day": p.start_day, "planted": sorted(planted, key=lambda x: x["onset"]),
            "lookalikes": sorted(set(p.lookalikes) | ROLE_LOOKALIKES.get(p.role, set())),
        }
        if p.private is not None and planted:
            people[p.userid]["private"] = {"wxid": p.private.wxid, "phone": p.private.phone,
                                           "weapp": p.private.weapp_username, "shop_url": p.private.shop_url}
    return {"profile": prof.name, "half": prof.half, "corpus_version": CORPUS_VERSION, "industry": prof.industry,
            "start": clock.midnight(prof.start, "Asia/Shanghai", 0), "end": company.end_ms, "days": prof.days,
            "employees": people}
