"""README.md's "Python API" examples run as written, on the MorphDrive recordings they name.

Only their budgets shrink: every `max_minutes=N` becomes a few seconds, and the pruning example
gets a mask search of one iteration of one epoch, so the API they show is what runs, not its cost.
"""

from __future__ import annotations

import re
from pathlib import Path

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
