"""`leanamp` command line: a thin layer over the Python API.

Each command module registers its commands on `leanamp.cli.app.app`. `main` turns a
LeanampError into a message on stderr and a non-zero exit, never a traceback; usage errors are
typer's own messages.
"""

from __future__ import annotations

import os
import sys
import warnings

import torch

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
from leanamp.cli import engines  # noqa: E402,F401  isort: skip


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    # One intra-op thread: small models run fastest so, and a plugin-like process gets one core.
    torch.set_num_threads(int(os.environ.get("LEANAMP_THREADS", "1")))
    try:
        app(args=argv, prog_name="leanamp")
    except LeanampError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
