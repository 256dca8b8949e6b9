"""Alerting: the Alertmanager configuration and the webhook receiver that keeps alert_logs."""
