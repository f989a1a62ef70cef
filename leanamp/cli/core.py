"""Core commands: demo, check-data, train, eval, process."""
