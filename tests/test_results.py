from __future__ import annotations

import pytest

from leanamp.errors import LeanampError
from leanamp.sweep import ResultsTable, open_results

SPEC = {"device": {"name": "od"}, "architecture": "lstm", "size": 3, "method": "train", "seed": 0}


def test_run_lifecycle_in_the_table(tmp_path):
    table = ResultsTable(tmp_path)
    table.register("a", SPEC, "od-lstm3-train-s0", "runs/a")
    table.register("b", {**SPEC, "size": 5}, "od-lstm5-train-s0", "runs/b")
    table.mark_running("a")
    table.mark_running("b")
    table.mark_done("a", {"metrics": {"test_esr": 0.25, "rtf": 0.01, "parameters": 70,
                                      "nonzero_parameters": 50},
                          "artefacts": {"model": "model.leanamp"}, "seconds": 1.5})
    table.mark_failed("b", "DataError: missing.wav: no such file")
    # Registering again (a resumed sweep) keeps what the table knows.
    table.register("a", SPEC, "od-lstm3-train-s0", "runs/a")
    rows = {r["run_id"]: r for r in open_results(tmp_path).rows()}
    assert rows["a"]["status"] == "done" and rows["a"]["test_esr"] == 0.25
    assert rows["a"]["metrics"]["nonzero_parameters"] == 50
    assert rows["a"]["artefacts"] == {"model": "model.leanamp"}
    assert rows["a"]["config"] == SPEC and rows["a"]["attempts"] == 1
    assert rows["b"]["status"] == "failed" and "missing.wav" in rows["b"]["error"]
    assert [r["run_id"] for r in table.rows("done")] == ["a"]
    table.set_info(name="s", config={"sizes": [3, 5]})
    assert table.info() == {"name": "s", "config": {"sizes": [3, 5]}}


def test_open_results_needs_a_sweep_folder(tmp_path):
    with pytest.raises(LeanampError, match="results.sqlite"):
        open_results(tmp_path)
