"""One module per dashboard; each has a function of its own name that returns the dashboard."""
