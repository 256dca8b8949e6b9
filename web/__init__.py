"""`sru web`: the console where people act on what sru finds (fleet, hosts, alerts, recommendations,
reports), server-rendered with Flask and Jinja2 on the shared HTTP layer (sru.http)."""
