"""Sweeps: many training / pruning runs from one config, spread over Ray, resumable, tabulated."""

from leanamp.results import ResultsTable, open_results
from leanamp.sweep.config import SweepConfig, load_sweep_config
from leanamp.sweep.methods import METHODS, MethodOutput, RunContext, execute_run
from leanamp.sweep.runner import SweepSummary, read_run_ids, run_sweep, sweep_table
from leanamp.sweep.spec import RunSpec

__all__ = [
    "METHODS",
    "MethodOutput",
    "ResultsTable",
    "RunContext",
    "RunSpec",
    "SweepConfig",
    "SweepSummary",
    "execute_run",
    "load_sweep_config",
    "open_results",
    "read_run_ids",
    "run_sweep",
    "sweep_table",
]
