"""sru: Smart Resource Utilization — shared code for the exporter, adapter, receiver and optimizer."""

__version__ = "0.1.0"
