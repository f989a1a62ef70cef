"""`leanamp` command line: a thin layer over the Python API.

Each command module registers its commands on `leanamp.cli.app.app`. `main` turns a
LeanampError into a message on stderr and a non-zero exit, never a traceback; usage errors are
typer's own messages.

Start-up stays light (typer only): torch, numba, scipy and matplotlib are imported by the
commands that use them, so `--help` and usage errors answer at once
(benchmarks/bench_startup.py measures it).
"""

from __future__ import annotations

import os
import sys
import warnings

from leanamp.cli.app import app
from leanamp.errors import LeanampError

# Command modules: importing one registers its commands.
from leanamp.cli import core  # noqa: E402,F401  isort: skip
from leanamp.cli import formats  # noqa: E402,F401  isort: skip
from leanamp.cli import runtime  # noqa: E402,F401  isort: skip
from leanamp.cli import experiments  # noqa: E402,F401  isort: skip
from leanamp.cli import prune  # noqa: E402,F401  isort: skip
from leanamp.cli import devices  # noqa: E402,F401  isort: skip
from leanamp.cli import transfer  # noqa: E402,F401  isort: skip
from leanamp.cli import shrink  # noqa: E402,F401  isort: skip
from leanamp.cli import capture  # noqa: E402,F401  isort: skip
from leanamp.cli import engines  # noqa: E402,F401  isort: skip


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    # One intra-op thread: small models run fastest so, and a plugin-like process gets one core.
    # torch is not imported yet; it reads OMP_NUM_THREADS when a command imports it.
    threads = os.environ.get("LEANAMP_THREADS", "1")
    os.environ["OMP_NUM_THREADS"] = threads
    if "torch" in sys.modules:  # already imported (e.g. by a test calling main in-process)
        sys.modules["torch"].set_num_threads(int(threads))
    try:
        app(args=argv, prog_name="leanamp")
    except LeanampError as e:
        print(f"{getattr(e, 'prefix', 'error')}: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
