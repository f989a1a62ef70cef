"""README.md's examples: the Python API ones run as written, on the MorphDrive recordings they
name, and every command and option the README shows exists.

Only their budgets shrink: every `max_minutes=N` becomes a few seconds, and the pruning example
gets a mask search of one iteration of one epoch, so the API they show is what runs, not its cost.
"""

from __future__ import annotations

import functools
import re
import shlex
from pathlib import Path

import typer

from leanamp.cli import app
from leanamp.prune import SearchConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def python_api_blocks() -> list[str]:
    section = README.read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_every_long_step_of_the_examples_has_a_budget_the_run_below_can_shrink():
    code = "\n".join(python_api_blocks())
    assert code.count("max_minutes=") == 3  # the LSTM, the workflow and the slimmable WaveNet
    assert code.count("prune_recordings(") == 1


def test_the_python_api_examples_run(morphdrive, tmp_path, monkeypatch, capsys):
    (tmp_path / "dry").symlink_to(morphdrive / "dry")
    (tmp_path / "pedal").symlink_to(morphdrive / "pedal")
    monkeypatch.chdir(tmp_path)
    code = re.sub(r"max_minutes=\d+(\.\d+)?", "max_minutes=0.03", "\n".join(python_api_blocks()))
    code = re.sub(r"(prune_recordings\((?:[^()]|\([^()]*\))*)\)", r"\1, search=SHORT_SEARCH)", code)
    short_search = SearchConfig(iterations=1, pretrain_epochs=1, max_epochs_per_iteration=1)
    names = {"SHORT_SEARCH": short_search}
    exec(compile(code, "README.md, Python API", "exec"), names)
    printed = capsys.readouterr().out
    assert "ESR" in printed  # evaluate(...).table()
    assert re.search(r"\{1: [0-9.e-]+, 2: ", printed)  # evaluate_by_width: {width: test ESR}
    for written in ("pedal.json", "slim.nam", "runs/zendrive16/model.leanamp", "runs/pruned"):
        assert (tmp_path / written).exists(), written


def readme_invocations() -> list[str]:
    """Every `leanamp ...` command README.md shows: in shell blocks (continuation lines joined,
    comments dropped) and in inline code."""
    text = README.read_text()
    shell = "\n".join(re.findall(r"```bash\n(.*?)```", text, re.S)).replace("\\\n", " ")
    lines = [line.split(" #")[0] for line in shell.splitlines()]
    commands = [re.sub(r"^.*?\bleanamp ", "leanamp ", line) for line in lines if "leanamp " in line]
    return commands + re.findall(r"`(leanamp [^`]*)`", text)


@functools.cache
def cli_commands() -> dict:
    """leanamp's commands by name, as click builds them from the typer app (once)."""
    return typer.main.get_command(app).commands


def options_of(command: str) -> set[str]:
    params = cli_commands()[command].params
    return {"--help"} | {opt for param in params for opt in param.opts + param.secondary_opts}


def test_every_command_and_option_the_readme_shows_exists():
    commands = cli_commands()
    invocations = readme_invocations()
    assert len(invocations) > 40
    for invocation in invocations:
        words = shlex.split(invocation)[1:]
        if words == ["--help"]:
            continue
        assert words[0] in commands, invocation
        unknown = {w.split("=")[0] for w in words if w.startswith("--")} - options_of(words[0])
        assert not unknown, f"{invocation}: no option {unknown}"


def test_the_command_table_lists_every_command_with_options_it_has():
    table = README.read_text().split("\n## Command line\n", 1)[1].split("\n#", 1)[0]
    rows = re.findall(r"^\| `leanamp ([a-z-]+)[^|]*\|(.*)$", table, re.M)
    assert sorted(name for name, _ in rows) == sorted(cli_commands())
    for name, description in rows:
        unknown = set(re.findall(r"--[a-z][a-z0-9-]*", description)) - options_of(name)
        assert not unknown, f"leanamp {name}: no option {unknown}"
