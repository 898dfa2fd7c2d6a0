"""The intent corpus (README.md beside this file) as corpus Cases, replayable like chat.yaml."""

from __future__ import annotations

from pathlib import Path

from tests.corpus import Case

HERE = Path(__file__).parent
DIVERSIONS = ("steer", "pay", "offrecord", "induce")


def load(half: str) -> list[Case]:
    """The cases of one half (`dev` or `test`): label steer for every diversion, its class as family."""
    cases = []
    for n, line in enumerate((HERE / f"{half}.txt").read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        label, _, text = line.partition("\t")
        assert label in DIVERSIONS + ("benign",), f"{half}.txt:{n}: unknown label {label!r}"
        messages = tuple({"from": "customer", "text": m.strip()[2:]} if m.strip().startswith("客:")
                         else {"text": m.strip()} for m in text.split(" || "))
        cases.append(Case(f"{half}{n}", label if label != "benign" else "hard_negative",
                          "benign" if label == "benign" else "steer", messages))
    return cases
