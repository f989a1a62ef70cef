"""Workflows: the orchestrations that the CLI and the sweep both call (train on data and write
a run folder, the demo, render a file through any model, prune a device, a structured run)."""
