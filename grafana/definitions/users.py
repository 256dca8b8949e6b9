"""The users dashboard (uid sru-users): sessions and resource use by user and department."""

from __future__ import annotations

from typing import Any

from grafana.panels import (
    HOST_LINK,
    barchart,
    dashboard,
    link_column,
    promql,
    query_var,
    sql,
    stat,
    table,
    timeseries,
    unit_column,
)


def users() -> dict[str, Any]:
    user_where = "coalesce(u.department, '(none)') IN ($department) AND u.username IN ($user)"
    in_range = "us.login_time < $__timeTo() AND coalesce(us.logout_time, now()) > $__timeFrom()"
    # Session time clipped to the range, in hours.
    hours = ("sum(extract(epoch FROM least(coalesce(us.logout_time, now()), $__timeTo()::timestamptz)"
             " - greatest(us.login_time, $__timeFrom()::timestamptz))) / 3600")
    panels: list[dict[str, Any]] = [
        stat("Active sessions", [sql(f"""
            SELECT count(*) FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE us.is_active AND {user_where}""")], w=6),
        stat("Users with sessions in range", [sql(f"""
            SELECT count(DISTINCT us.user_id) FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}""")], w=6),
        stat("Session hours in range", [sql(f"""
            SELECT {hours} FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}""")], unit="h", w=6),
        stat("Logged in now (Prometheus)", [promql("count(sru_session_login_time_seconds) or vector(0)",
                                                   instant=True)], w=6),
        barchart("Session hours by user", [sql(f"""
            SELECT u.username AS "User", {hours} AS "hours"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY u.username ORDER BY 2 DESC LIMIT 25""")], unit="h"),
        barchart("Session hours by department", [sql(f"""
            SELECT coalesce(u.department, '(none)') AS "Department", {hours} AS "hours"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY 1 ORDER BY 2 DESC""")], unit="h"),
        timeseries("Process CPU by user", [sql(f"""
            SELECT $__timeGroupAlias(p."timestamp", $__interval), p.username AS metric,
                   sum(p.cpu_percent) / count(DISTINCT p."timestamp") AS value
              FROM process_snapshots p JOIN users u ON u.username = p.username
             WHERE $__timeFilter(p."timestamp") AND {user_where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="percent", max_=None, w=12,
                   interval="1h", stack=True,
                   description="CPU of the users' top processes in percent of one core, summed over "
                               "hosts (process snapshots keep the top processes only)."),
        timeseries("Process memory by user", [sql(f"""
            SELECT $__timeGroupAlias(p."timestamp", $__interval), p.username AS metric,
                   sum(p.memory_mb) / count(DISTINCT p."timestamp") AS value
              FROM process_snapshots p JOIN users u ON u.username = p.username
             WHERE $__timeFilter(p."timestamp") AND {user_where}
             GROUP BY 1, 2 ORDER BY 1""", fmt="time_series")], unit="decmbytes", w=12, interval="1h",
                   stack=True),
        table("Resource use by user", [sql(f"""
            SELECT u.username AS "User", coalesce(u.department, '(none)') AS "Department",
                   count(*) AS "Sessions", {hours} AS "Hours",
                   count(DISTINCT us.system_id) AS "Hosts",
                   max(us.peak_cpu_usage) AS "Peak CPU", max(us.peak_ram_usage) AS "Peak RAM",
                   avg(us.peak_cpu_usage) AS "Avg peak CPU"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY u.username, u.department ORDER BY 4 DESC""")], w=12, h=10,
              overrides=[unit_column("Hours", "h"),
                         *(unit_column(c, "percent") for c in ("Peak CPU", "Peak RAM", "Avg peak CPU"))]),
        table("Resource use by department", [sql(f"""
            SELECT coalesce(u.department, '(none)') AS "Department", count(DISTINCT u.id) AS "Users",
                   count(*) AS "Sessions", {hours} AS "Hours", count(DISTINCT us.system_id) AS "Hosts",
                   avg(us.peak_cpu_usage) AS "Avg peak CPU", avg(us.peak_ram_usage) AS "Avg peak RAM"
              FROM user_sessions us JOIN users u ON u.id = us.user_id
             WHERE {in_range} AND {user_where}
             GROUP BY 1 ORDER BY 4 DESC""")], w=12, h=10,
              overrides=[unit_column("Hours", "h"),
                         *(unit_column(c, "percent") for c in ("Avg peak CPU", "Avg peak RAM"))]),
        table("Sessions", [sql(f"""
            SELECT us.login_time AS "Login", us.logout_time AS "Logout", u.username AS "User",
                   coalesce(u.department, '(none)') AS "Department", s.hostname AS "Host",
                   us.terminal AS "Terminal", us.remote_host AS "From",
                   us.session_duration_minutes AS "Minutes", us.peak_cpu_usage AS "Peak CPU",
                   us.peak_ram_usage AS "Peak RAM", us.active_processes::text AS "Processes"
              FROM user_sessions us JOIN users u ON u.id = us.user_id JOIN systems s ON s.id = us.system_id
             WHERE {in_range} AND {user_where}
             ORDER BY us.login_time DESC LIMIT 500""")], h=10,
              overrides=[link_column("Host", HOST_LINK), unit_column("Minutes", "m"),
                         unit_column("Peak CPU", "percent"), unit_column("Peak RAM", "percent")]),
    ]
    variables = [
        query_var("department", "Department",
                  "SELECT DISTINCT coalesce(department, '(none)') FROM users ORDER BY 1",
                  multi=True, include_all=True),
        query_var("user", "User",
                  "SELECT username FROM users WHERE coalesce(department, '(none)') IN ($department) ORDER BY 1",
                  multi=True, include_all=True),
    ]
    return dashboard("users", "sru / Users", "Sessions and resource use by user and department.",
                     panels, variables, time_from="now-7d", refresh="")
