"""Fixtures of the integration tests beyond tests/conftest.py's."""

from tests.integration.wecomkit import wecom  # noqa: F401 - the WeCom stand-in fixture, one per module
