from __future__ import annotations

import pytest

from leanamp.cli import main


def _run(args: list[str]) -> int:
    """The exit code of `leanamp ARGS` (typer exits even on success)."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code


def test_report_command_writes_the_page(sweep_dir, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert _run(["report", str(sweep_dir), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    assert "<h2>Pruning results (as in Table I)</h2>" in out.read_text()


def test_report_command_explains_a_wrong_folder(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["report", str(tmp_path)])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path}: neither a sweep folder")
