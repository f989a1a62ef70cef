"""benchmarks/lean/record.py: a run carries its levels, and the record (lean.json) keeps the
tables when the grid folder is lost."""

import json

from lean_scripts import lean_script

record = lean_script("record")
tables = lean_script("tables")


def _grid_run(grid, stage, name, method, size, seed, test_esr, patience=10):
    run_dir = grid / stage / "runs" / name
    run_dir.mkdir(parents=True)
    result = {"status": "done", "cpu_seconds": 600.0,
              "config": {"device": {"name": "pedal"}, "architecture": "lstm", "size": size,
                         "method": method, "seed": seed, "method_options": {},
                         "train": {"early_stop_patience": patience}},
              "metrics": {"test_esr": test_esr, "best_validation_loss": test_esr / 2,
                          "hidden_size": size, "epochs": 50, "stopped_because": "patience"}}
    (run_dir / "result.json").write_text(json.dumps(result))
    return run_dir


def _made_up_grid(grid):
    for seed in range(3):
        _grid_run(grid, "front", f"pedal-lstm8-train-s{seed}", "train", 8, seed, 0.004 + seed / 1e3)
    trimmed = _grid_run(grid, "methods", "pedal-lstm16-structured-s0", "structured", 16, 0, 0.003)
    (trimmed / "structured").mkdir()
    records = [{"iteration": i, "units": {"lstm": units}, "validation_esr": 0.002 * (i + 1)}
               for i, units in enumerate([16, 12, 8])]
    (trimmed / "structured" / "structured.json").write_text(json.dumps({"records": records}))
    # measured once on the test clip and kept: no model file needed
    (trimmed / "level_test_esr.json").write_text(json.dumps({"0": 0.003, "1": 0.0035, "2": 0.006}))
    converged = grid / "converged" / trimmed.name / "level_02"
    converged.mkdir(parents=True)
    (converged / "result.json").write_text(json.dumps(
        {"level": 2, "hidden_size": 8, "test_esr": 0.0045, "cpu_seconds": 300.0}))


def test_a_run_carries_its_levels_and_its_converged_levels(tmp_path):
    _made_up_grid(tmp_path)
    rows = {row["method"]: row for row in record.load_results(tmp_path, {})}
    assert [lv["test_esr"] for lv in rows["structured"]["levels"]] == [0.003, 0.0035, 0.006]
    assert [lv["hidden_size"] for lv in rows["structured"]["levels"]] == [16, 12, 8]
    assert rows["structured"]["converged"] == [{"level": 2, "hidden_size": 8, "test_esr": 0.0045,
                                                "cpu_seconds": 300.0, "test_esr_before": 0.006}]
    assert rows["train"]["levels"] == [] and rows["train"]["converged"] == []


def test_the_record_keeps_the_tables_when_the_grid_folder_is_lost(tmp_path, monkeypatch):
    grid, results = tmp_path / "grid", tmp_path / "results"
    _made_up_grid(grid)
    results.mkdir()
    engines = [{"name": f"LSTM H{h}", "kind": "lstm", "rtf_cpu": {"leanamp fast": h / 1000}}
               for h in (8, 16)]  # the prices the CPU table and plot need
    (results / "engines.json").write_text(json.dumps({"meta": {"date": "today", "cpu": "a CPU"},
                                                     "rows": engines}))
    monkeypatch.setattr(record, "RESULTS", results)
    engine_rows = lean_script("prices").engine_rows  # cached: read again from `results`

    def tables_of(grid_dir):
        monkeypatch.setattr("sys.argv", ["tables.py", str(grid_dir)])
        engine_rows.cache_clear()
        try:
            tables.main()
        finally:
            engine_rows.cache_clear()
        return (results / "lean.md").read_text()

    first = tables_of(grid)
    assert "| structured from 16 | 0 | 2 | 8 | 0.0060 | 0.0060 |" in first
    assert "| structured + converge | 0 | 2 | 8 | 0.0060 | 0.0045 | 900 |" in first
    assert tables_of(tmp_path / "a new machine's empty grid") == first
    kept = json.loads((results / "lean.json").read_text())
    assert len(kept["runs"]) == 4 and kept["shrinks"] == []


def test_the_grids_own_run_of_a_name_wins_over_the_record():
    def row(stage, name, esr):
        return {"run_dir": f"/grid/{stage}/runs/{name}", "test_esr": esr}

    grid = [row("front-big", "pedal-lstm64-train-s0-ab12", 0.002)]
    recorded = [row("front-more", "pedal-lstm64-train-s0-ab12", 0.003),
                row("front-more", "pedal-lstm64-train-s1-cd34", 0.004)]
    assert [r["test_esr"] for r in record.with_recorded(grid, recorded)] == [0.002, 0.004]
    shrink = {"folder": "shrink", "device": "pedal"}
    merged = record.with_recorded([{**shrink, "new": True}],
                                  [shrink, {"folder": "shrink-v1", "device": "pedal"}],
                                  record.shrink_name)
    assert merged == [{**shrink, "new": True}, {"folder": "shrink-v1", "device": "pedal"}]
