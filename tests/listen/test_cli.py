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


def test_listening_test_folder_is_found_or_prepared_once(sweep_dir):
    from leanamp.errors import LeanampError
    from leanamp.listen import open_listening_test, serve_listening_test

    with pytest.raises(LeanampError, match="no listening test here yet"):
        open_listening_test(sweep_dir, prepare=False)
    with pytest.raises(LeanampError, match="--port must be within 0..65535"):
        serve_listening_test(sweep_dir, port=70000)
    with pytest.raises(LeanampError, match="--seconds must be positive"):
        open_listening_test(sweep_dir, seconds=0)
    assert not (sweep_dir / "listening").exists()  # refused before any preparation
    test_dir = open_listening_test(sweep_dir, seconds=0.2)
    assert test_dir == sweep_dir / "listening"
    stamp = (test_dir / "test.json").stat().st_mtime_ns
    assert open_listening_test(sweep_dir) == test_dir  # found, not prepared again
    assert open_listening_test(test_dir, prepare=False) == test_dir
    assert (test_dir / "test.json").stat().st_mtime_ns == stamp
