"""The receiver fixtures of tests/alerting, shared with the HTTP-layer tests."""

from tests.alerting.conftest import receiver_factory  # noqa: F401  (a fixture)
