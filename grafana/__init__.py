"""The Grafana dashboards as code (generate.py) and their provisioning."""
