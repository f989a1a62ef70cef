"""`leanamp` command line: a thin layer over the Python API.

Each command module registers its commands on `leanamp.cli.app.app`. `main` turns a
LeanampError into a message on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import sys
import warnings

import click
import typer

from leanamp.cli.app import app
from leanamp.errors import LeanampError

# Command modules: importing one registers its commands.
from leanamp.cli import core  # noqa: E402,F401  isort: skip


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    warnings.showwarning = _show_warning
    command = typer.main.get_command(app)
    try:
        command.main(args=argv, prog_name="leanamp", standalone_mode=False)
    except LeanampError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)
    except click.exceptions.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
