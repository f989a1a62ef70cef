"""The typer application every command module registers on."""

import typer

app = typer.Typer(
    name="leanamp",
    help="Small, fast neural models of guitar pedals and amplifiers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help and usage errors: rich formatting costs more start-up time than --help itself.
    rich_markup_mode=None,
)
