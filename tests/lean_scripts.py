"""benchmarks/lean's scripts as modules for tests, imported by name as they import each other: one
module object each, so a test patches what every sibling uses (record.RESULTS for all of them)."""

import importlib
import sys
from pathlib import Path

LEAN = Path(__file__).resolve().parents[1] / "benchmarks" / "lean"


def lean_script(name: str):
    sys.path.insert(0, str(LEAN))  # the scripts import their siblings (record.py, ...)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(LEAN))
