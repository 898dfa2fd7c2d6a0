"""`paodan worker`: import every agent and run the Faust worker until stopped."""

from __future__ import annotations

import logging


def run(loglevel: str = "info") -> None:
    from faust import Worker

    from streams.app import app, settings
    from streams import archive, behaviour, chat, directory, live  # noqa: F401 - importing registers the agents
    from streams.rules_state import current_rules

    rules = current_rules()  # fail before joining the group if the rules file is bad
    logging.getLogger(__name__).info("rules %s loaded from %s", rules.version, rules.path)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    Worker(app, loglevel=loglevel, quiet=True).execute_from_commandline()
