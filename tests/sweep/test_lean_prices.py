"""benchmarks/lean/prices.py: the tables' prices come from one engines run, under the names
bench_engines.py writes."""

import importlib.util
import json

from lean_scripts import LEAN, lean_script

prices = lean_script("prices")
record = lean_script("record")


def test_prices_come_from_one_engines_run_and_a_missing_engine_is_not_timed(tmp_path,
                                                                            monkeypatch):
    rows = [{"name": "LSTM H8", "kind": "lstm",
             "rtf_cpu": {"RTNeural run-time -O3": 0.012, "RTNeural compile-time native": 0.0062,
                         "leanamp fast": 0.0053}},
            {"name": "LSTM H18", "kind": "lstm", "rtf_cpu": {"leanamp fast": 0.008}},  # no C++
            {"name": "WaveNet nano", "kind": "wavenet",
             "rtf_cpu": {"NAM Core -O3": 0.047, "NAM Core native": 0.041, "leanamp fast": 0.0065}},
            {"name": "WaveNet standard", "kind": "wavenet",
             "rtf_cpu": {"NAM Core native": 0.06, "leanamp fast": 0.05}},
            {"name": "WaveNet 8 channels", "kind": "wavenet", "rtf_cpu": {"leanamp fast": 0.011}},
            {"name": "NAM A2 (reference file)", "kind": "wavenet",
             "rtf_cpu": {"NAM Core native": 0.089, "leanamp fast": 0.028}}]
    (tmp_path / "engines.json").write_text(json.dumps({"meta": {}, "rows": rows}))
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    prices.engine_rows.cache_clear()
    try:
        assert prices.lstm_engine_rtfs() == {8: (0.0053, 0.0062), 18: (0.008, None)}
        assert prices.wavenet_engine_rtfs() == {  # A2 is neither a preset nor of a width
            ("nam_preset", 4): (0.0065, 0.041), ("nam_preset", 16): (0.05, 0.06),
            ("wavenet", 16): (0.05, 0.06), ("wavenet", 8): (0.011, None)}
        assert prices.engine_text(18) == "not timed" and prices.engine_text(8) == "0.0062"
    finally:
        prices.engine_rows.cache_clear()


def test_every_wavenet_bench_engines_times_is_priced_under_the_grids_name(tmp_path, monkeypatch):
    """The row names bench_engines.py writes are the ones prices.py reads prices by."""
    path = LEAN.parent / "bench_engines.py"
    monkeypatch.syspath_prepend(str(LEAN.parent))  # it imports its sibling common.py
    spec = importlib.util.spec_from_file_location("bench_engines", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(bench, "A2", tmp_path / "absent.nam")  # the reference file is no size
    monkeypatch.setattr(bench, "HIDDEN_SIZES", [8])  # the LSTMs are not what this is about
    monkeypatch.setattr(bench, "export_model", lambda model, path, metadata: path)  # names only
    rows = [{"name": row["name"], "kind": row["kind"], "rtf_cpu": {"leanamp fast": 0.01}}
            for row in bench.write_models(tmp_path)]
    monkeypatch.setattr(prices, "engine_rows", lambda: rows)
    presets = {("nam_preset", channels) for channels in (4, 8, 12, 16)}
    widths = {("wavenet", channels) for channels in (*bench.WAVENET_WIDTHS, 16)}
    assert set(prices.wavenet_engine_rtfs()) == presets | widths


def test_the_tables_say_when_and_where_their_prices_were_timed(tmp_path, monkeypatch):
    monkeypatch.setattr(record, "RESULTS", tmp_path)
    assert prices.timing_runs() == "none yet"
    meta = {"date": "2026-12-02 05:03 UTC", "cpu": "AMD EPYC"}
    (tmp_path / "engines.json").write_text(json.dumps({"meta": meta, "rows": []}))
    assert prices.timing_runs() == "`bench_engines.py` 2026-12-02 05:03 UTC on AMD EPYC"
