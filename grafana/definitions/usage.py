"""The usage dashboard (uid sru-usage, issue 19): the usage ledger by department and by host, with
each host's idle capacity. Grafana reads as dashboard_readonly, which gets department and host
totals only (sru_usage_by_department, sru_usage_by_host): no panel can show a person's figures
(sql/README.md, "Per-user usage"); operators see users in the console's Usage page."""

from __future__ import annotations

from typing import Any

from grafana.panels import HOST_LINK, barchart, dashboard, link_column, sql, stat, table, unit_column

_DEPT = "sru_usage_by_department($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"
_HOST = "sru_usage_by_host($__timeFrom()::timestamptz, $__timeTo()::timestamptz)"


def usage() -> dict[str, Any]:
    hours = ("CPU core-h", "RAM GB-h", "GPU-h", "GPU-h held idle", "idle CPU core-h", "idle RAM GB-h",
             "idle GPU-h", "capacity CPU core-h")
    panels: list[dict[str, Any]] = [
        stat("CPU core-hours used", [sql(f"SELECT sum(cpu_core_hours) FROM {_DEPT}")], unit="h", w=6),
        stat("GPU-hours used", [sql(f"SELECT sum(gpu_hours) FROM {_DEPT}")], unit="h", w=6),
        stat("GPU-hours held idle", [sql(f"SELECT sum(gpu_idle_held_hours) FROM {_DEPT}")], unit="h", w=6,
             description="GPU memory held at near-zero utilisation: the GPU was blocked for others."),
        stat("CPU capacity unused", [sql(f"""
            SELECT 100 * sum(idle_cpu_core_hours) / nullif(sum(capacity_cpu_core_hours), 0) FROM {_HOST}""")],
             unit="percent", w=6),
        barchart("CPU core-hours by department", [sql(f"""
            SELECT department AS "Department", cpu_core_hours AS "core-hours" FROM {_DEPT}
             ORDER BY 2 DESC""")], unit="h"),
        barchart("GPU-hours by department", [sql(f"""
            SELECT department AS "Department", gpu_hours AS "used", gpu_idle_held_hours AS "held idle"
              FROM {_DEPT} ORDER BY 2 DESC""")], unit="h"),
        table("Usage by department", [sql(f"""
            SELECT department AS "Department", users AS "Users", hosts AS "Hosts",
                   cpu_core_hours AS "CPU core-h", ram_gb_hours AS "RAM GB-h", gpu_hours AS "GPU-h",
                   gpu_idle_held_hours AS "GPU-h held idle"
              FROM {_DEPT} ORDER BY 4 DESC""")], w=24, h=8,
              description="From every process of every host, per department (sru users import); system "
                          "is the system accounts, other the users beyond a host's per-user bound.",
              overrides=[unit_column(c, "h") for c in hours[:4]]),
        table("Usage and idle capacity by host", [sql(f"""
            SELECT hostname AS "Host", users AS "Users", cpu_core_hours AS "CPU core-h",
                   idle_cpu_core_hours AS "idle CPU core-h", capacity_cpu_core_hours AS "capacity CPU core-h",
                   ram_gb_hours AS "RAM GB-h", idle_ram_gb_hours AS "idle RAM GB-h", gpu_hours AS "GPU-h",
                   gpu_idle_held_hours AS "GPU-h held idle", idle_gpu_hours AS "idle GPU-h"
              FROM {_HOST} ORDER BY idle_cpu_core_hours DESC""")], w=24, h=10,
              description="Per host: users + system + idle = capacity (cores, RAM, GPUs x hours reported).",
              overrides=[link_column("Host", HOST_LINK), *(unit_column(c, "h") for c in hours)]),
    ]
    return dashboard("usage", "sru / Usage", "CPU core-hours, RAM GB-hours and GPU-hours by department and "
                     "host, with idle capacity (department totals: no person's figures).", panels, [],
                     time_from="now-7d", refresh="", console=("Usage in the sru console", "/usage"))
