"""The usage ledger (issue 19): CPU core-hours, RAM GB-hours and GPU-hours per user, department or
host over any period, from ``user_usage_metrics`` and its rollups (sql/R__sru_usage_ledger.sql).

The API other parts read::

    ledger(conn, by, start, end, prices=None) -> Ledger
    totals(conn, start, end, prices=None) -> (Ledger by department, Ledger by host)   # one read
    by_user(user_host_ledger) -> Ledger by user                                         # no read

``by`` is ``"user"``, ``"department"``, ``"host"`` or ``"user_host"`` (one row per user and host).
Per-user rows (``user``, ``user_host``) need a connection whose role may read personal data
(``personal_usage_reader``: analyst, admin; the console after ``SET ROLE``); department and host
totals are open to every reading role (sql/README.md, "Per-user usage: who sees what").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psycopg

By = Literal["user", "department", "host", "user_host"]
BY_CHOICES: tuple[By, ...] = ("user", "department", "host", "user_host")


@dataclass(frozen=True)
class Prices:
    """Showback: money per core-hour, GB-hour of RAM and GPU-hour. A GPU held idle costs like a
    used one: nobody else could use it."""
    core_hour: float = 0.0
    gb_hour: float = 0.0
    gpu_hour: float = 0.0
    currency: str = ""

    def cost(self, row: LedgerRow) -> float:
        return (row.cpu_core_hours * self.core_hour + row.ram_gb_hours * self.gb_hour
                + (row.gpu_hours + row.gpu_idle_held_hours) * self.gpu_hour)


@dataclass
class LedgerRow:
    """One line of the ledger. ``user``/``department``/``host`` are set as ``by`` asks (a user row
    carries its department; a user_host row all three). Host rows add the host's capacity, what the
    system accounts used, and the idle remainder: users + system + idle = capacity."""
    user: str | None = None
    department: str | None = None
    host: str | None = None
    hours: float = 0.0
    cpu_core_hours: float = 0.0
    ram_gb_hours: float = 0.0
    gpu_hours: float = 0.0
    gpu_idle_held_hours: float = 0.0
    gpu_memory_gb_hours: float = 0.0
    users: int | None = None
    hosts: int | None = None
    system_cpu_core_hours: float | None = None
    idle_cpu_core_hours: float | None = None
    idle_ram_gb_hours: float | None = None
    idle_gpu_hours: float | None = None
    capacity_cpu_core_hours: float | None = None
    capacity_ram_gb_hours: float | None = None
    capacity_gpu_hours: float | None = None
    cost: float | None = None


@dataclass
class Ledger:
    by: By
    start: datetime
    end: datetime
    rows: list[LedgerRow] = field(default_factory=list)
    prices: Prices | None = None

    def as_dicts(self) -> list[dict[str, Any]]:
        """The JSON shape of `sru usage` and /api/v1/usage: the key column of ``by``, the figures,
        and the period on every object; columns that do not apply to ``by`` are left out."""
        keys = {"user": ("user", "department"), "department": ("department",), "host": ("host",),
                "user_host": ("user", "department", "host")}[self.by]
        out = []
        for row in self.rows:
            d = {k: v for k, v in asdict(row).items()
                 if v is not None and (k in keys or k not in ("user", "department", "host"))}
            d["from"], d["to"] = self.start.isoformat(), self.end.isoformat()
            out.append(d)
        return out


_BY_USER = """
SELECT username, department, count(DISTINCT system_id), sum(hours), sum(cpu_core_hours),
       sum(ram_gb_hours), sum(gpu_hours), sum(gpu_idle_held_hours), sum(gpu_memory_gb_hours)
  FROM sru_usage_ledger(%s, %s)
 WHERE kind IN ('user', 'system', 'other')
 GROUP BY username, department
 ORDER BY sum(cpu_core_hours) DESC, username"""

_BY_USER_HOST = """
SELECT username, department, hostname, hours, cpu_core_hours, ram_gb_hours, gpu_hours,
       gpu_idle_held_hours, gpu_memory_gb_hours
  FROM sru_usage_ledger(%s, %s)
 WHERE kind IN ('user', 'system', 'other')
 ORDER BY department, username, hostname"""

# Department and host totals are the two kinds of sru_usage_totals()'s rows (one read of the ledger);
# sru_usage_by_department() and sru_usage_by_host(), what Grafana reads, are the same rows.
_TOTALS = """
SELECT total_of, department, hostname, hours, users, hosts, cpu_core_hours, ram_gb_hours, gpu_hours,
       gpu_idle_held_hours, gpu_memory_gb_hours, system_cpu_core_hours, idle_cpu_core_hours,
       idle_ram_gb_hours, idle_gpu_hours, capacity_cpu_core_hours, capacity_ram_gb_hours, capacity_gpu_hours
  FROM sru_usage_totals(%s, %s)
 WHERE total_of = ANY (%s)"""


def _f(v: Any) -> float:
    return float(v or 0.0)


def _row(figs: list[Any], **keys: Any) -> LedgerRow:
    cpu, ram, gpu, held, gmem = map(_f, figs)
    return LedgerRow(cpu_core_hours=cpu, ram_gb_hours=ram, gpu_hours=gpu, gpu_idle_held_hours=held,
                     gpu_memory_gb_hours=gmem, **keys)


def _check(start: datetime, end: datetime) -> None:
    if end <= start:
        raise ValueError("the period must end after it starts")


def _priced(result: Ledger) -> Ledger:
    if result.prices is not None:
        for row in result.rows:
            row.cost = round(result.prices.cost(row), 2)
    return result


def totals(conn: psycopg.Connection, start: datetime, end: datetime,
           prices: Prices | None = None, kinds: tuple[str, ...] = ("department", "host")) -> tuple[Ledger, Ledger]:
    """The ledgers by department and by host of [start, end) from one read (what the console's Usage
    page shows; open to every reading role). ``kinds`` leaves one of them empty when only the other
    is wanted."""
    _check(start, end)
    depts, hosts = Ledger("department", start, end, prices=prices), Ledger("host", start, end, prices=prices)
    for (kind, dept, host, hours, users, n_hosts, cpu, ram, gpu, held, gmem, sys_cpu, idle_cpu, idle_ram,
         idle_gpu, cap_cpu, cap_ram, cap_gpu) in conn.execute(_TOTALS, (start, end, list(kinds))):
        if kind == "department":
            depts.rows.append(_row([cpu, ram, gpu, held, gmem], department=dept, users=users, hosts=n_hosts))
        else:
            hosts.rows.append(LedgerRow(
                host=host, hours=_f(hours), users=users, cpu_core_hours=_f(cpu), ram_gb_hours=_f(ram),
                gpu_hours=_f(gpu), gpu_idle_held_hours=_f(held), system_cpu_core_hours=_f(sys_cpu),
                idle_cpu_core_hours=_f(idle_cpu), idle_ram_gb_hours=_f(idle_ram), idle_gpu_hours=_f(idle_gpu),
                capacity_cpu_core_hours=_f(cap_cpu), capacity_ram_gb_hours=_f(cap_ram),
                capacity_gpu_hours=_f(cap_gpu)))
    depts.rows.sort(key=lambda r: (-r.cpu_core_hours, r.department or ""))
    hosts.rows.sort(key=lambda r: r.host or "")
    return _priced(depts), _priced(hosts)


def by_user(per_host: Ledger) -> Ledger:
    """The ``user`` ledger from a ``user_host`` one of the same period, without reading again: one row
    per user and department, hosts counted, figures summed (what ``ledger(by='user')`` returns)."""
    if per_host.by != "user_host":
        raise ValueError(f"by_user needs a user_host ledger, not {per_host.by!r}")
    rows: dict[tuple[str | None, str | None], LedgerRow] = {}
    for r in per_host.rows:
        u = rows.setdefault((r.user, r.department), LedgerRow(user=r.user, department=r.department, hosts=0))
        u.hosts = (u.hosts or 0) + 1
        u.hours += r.hours
        u.cpu_core_hours += r.cpu_core_hours
        u.ram_gb_hours += r.ram_gb_hours
        u.gpu_hours += r.gpu_hours
        u.gpu_idle_held_hours += r.gpu_idle_held_hours
        u.gpu_memory_gb_hours += r.gpu_memory_gb_hours
    result = Ledger("user", per_host.start, per_host.end, prices=per_host.prices)
    result.rows = sorted(rows.values(), key=lambda r: (-r.cpu_core_hours, r.user or ""))
    return _priced(result)


def ledger(conn: psycopg.Connection, by: By, start: datetime, end: datetime,
           prices: Prices | None = None) -> Ledger:
    """The ledger of [start, end) grouped ``by``. Raises ``psycopg.errors.InsufficientPrivilege``
    when ``by`` names people and the connection's role may not read them."""
    if by not in BY_CHOICES:
        raise ValueError(f"by must be one of {', '.join(BY_CHOICES)}, not {by!r}")
    _check(start, end)
    if by == "department":
        return totals(conn, start, end, prices, kinds=("department",))[0]
    if by == "host":
        return totals(conn, start, end, prices, kinds=("host",))[1]
    result = Ledger(by, start, end, prices=prices)
    if by == "user":
        for user, dept, hosts, hours, *figs in conn.execute(_BY_USER, (start, end)):
            result.rows.append(_row(figs, user=user, department=dept, hosts=hosts, hours=_f(hours)))
    else:
        for user, dept, host, hours, *figs in conn.execute(_BY_USER_HOST, (start, end)):
            result.rows.append(_row(figs, user=user, department=dept, host=host, hours=_f(hours)))
    return _priced(result)
