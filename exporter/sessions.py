"""``sessions`` collector: one series per logged-in session (utmp), valued with the login time."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Protocol

from exporter.registry import CollectorSpec, register

if TYPE_CHECKING:
    from prometheus_client.core import Metric


class Session(Protocol):
    @property
    def name(self) -> str | None: ...

    @property
    def terminal(self) -> str | None: ...

    @property
    def host(self) -> str | None: ...

    @property
    def started(self) -> float: ...              # unix seconds


class SessionsSource(Protocol):
    """What the collector reads from psutil."""

    def users(self) -> Sequence[Session]: ...


class SessionsCollector:
    name = "sessions"

    def __init__(self, source: SessionsSource) -> None:
        self._ps = source

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        sessions: dict[tuple[str, str, str], float] = {}
        for u in self._ps.users():
            key = (u.name or "", u.terminal or "", u.host or "")
            # Identical labels would be a duplicate series: keep the earliest login.
            if key not in sessions or u.started < sessions[key]:
                sessions[key] = u.started
        family = GaugeMetricFamily("sru_session_login_time_seconds",
                                   "Login time (unix seconds) of each logged-in session.",
                                   labels=["user", "terminal", "remote_host"])
        for key, started in sorted(sessions.items()):
            family.add_metric(list(key), started)
        yield family


register(CollectorSpec("sessions", "logged-in user sessions",
                       build=lambda settings, host: SessionsCollector(host.psutil)))
