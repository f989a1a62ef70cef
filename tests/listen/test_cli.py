from __future__ import annotations

import pytest

from leanamp.cli import main
from leanamp.listen import AnswerStore, prepare_listening_test


def _run(args: list[str]) -> int:
    """The exit code of `leanamp ARGS` (typer exits even on success)."""
    with pytest.raises(SystemExit) as exit_:
        main(args)
    return exit_.value.code


def test_listen_results_command(sweep_dir, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["listen", str(sweep_dir), "--results"])
    assert exit_.value.code == 2 and "no listening test here yet" in capsys.readouterr().err
    test_dir = prepare_listening_test(sweep_dir, sweep_dir / "listening", seconds=0.2)
    store = AnswerStore(test_dir)
    record = store.start("C")
    for trial_id, slots in record["slots"].items():
        scores = {str(i): (100 if c == "reference" else 60) for i, c in enumerate(slots)}
        store.rate(record["participant"], trial_id, scores, complete=True)
    assert _run(["listen", str(sweep_dir), "--results"]) == 0
    out = capsys.readouterr().out
    assert "listeners kept: 1, dropped in post-screening: 0" in out
    assert (test_dir / "results.png").exists() and (test_dir / "results.json").exists()
