"""Which host a label set is about: the one rule the adapter (series → systems.hostname) and the alert
receiver (alert → alert_logs.system_id) follow, so a host's alerts land on the systems row its
metrics created.

The first of ``hostname`` (the label the recording and alerting rules join from
``sru_system_info``, rules/README.md) and ``host`` (a target label some fleets set) that is present
and non-empty, else ``instance`` without its port. The SQL function ``sru_alert_host(labels)``
(sql/020_alerting.sql) is the same rule for the views and Grafana, which read stored labels;
``tests/alerting/test_host_identity.py`` feeds the same label sets to the adapter, the receiver and
that function.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

HOST_LABELS: tuple[str, ...] = ("hostname", "host")

# As sru_alert_host reads an instance (PostgreSQL's regular expressions: `.` matches a newline and
# `$` only the very end, hence DOTALL and \Z).
_BRACKETED = re.compile(r"\[(.*)\](?::[0-9]+)?\Z", re.DOTALL)
_TWO_COLONS = re.compile(r":.*:", re.DOTALL)
_PORT = re.compile(r":[0-9]*\Z")


def instance_host(instance: str) -> str:
    """'lab1:9100' → 'lab1', '[2001:db8::1]:9100' → '2001:db8::1'; a bare IPv6 address (two colons or
    more, no brackets) and an instance without a numeric port are kept whole."""
    bracketed = _BRACKETED.match(instance)
    if bracketed:
        return bracketed.group(1)
    if _TWO_COLONS.search(instance):
        return instance
    return _PORT.sub("", instance, count=1)


def host_of(labels: Mapping[str, str], host_labels: tuple[str, ...] = HOST_LABELS,
            fallback_instance: bool = True) -> str | None:
    """The host ``labels`` are about, or None. ``host_labels`` and ``fallback_instance`` are the
    adapter's mapping options (``host:`` in remote_write_adapter/mapping.yml); their defaults are
    the rule the receiver and ``sru_alert_host`` follow."""
    for name in host_labels:
        value = labels.get(name)
        if value:
            return value
    if fallback_instance:
        return instance_host(labels.get("instance", "")) or None
    return None
