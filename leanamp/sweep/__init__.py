"""Sweeps: many training / pruning runs from one config, spread over Ray, resumable, tabulated."""

from leanamp.results import ResultsTable, open_results
from leanamp.sweep.config import RunSpec, SweepConfig, load_sweep_config
from leanamp.sweep.methods import METHODS, MethodOutput, RunContext, execute_run, register_method
from leanamp.sweep.runner import SweepSummary, run_sweep, sweep_table

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
    "register_method",
    "run_sweep",
    "sweep_table",
]
