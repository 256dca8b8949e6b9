"""sru exporter: per-host Prometheus exporter (CPU, memory, disks, network, GPUs, sessions, processes)."""
