"""benchmarks/lean/tables.py: the verdicts the README quotes (shrink against its bar, slimmable
models against fixed ones), on small made-up grids."""

import pytest
from lean_scripts import lean_script

tables = lean_script("tables")
record = lean_script("record")


def _front_run(size, seed, test_esr, validation_loss, cpu=300.0, stopped_because="patience"):
    return {"method": "train", "architecture": "lstm", "size": size, "seed": seed,
            "patience": 10, "test_esr": test_esr, "validation_loss": validation_loss,
            "cpu_seconds": cpu, "stopped_because": stopped_because}


def _shrink(chosen_esr, dense_esr, size=8, cpu_seconds=1800.0):
    plan = {"size": size, "budget": {"max_rtf": 0.035}, "minutes": 30,
            "method_order": ["dense", "distill"]}
    candidates = [
        {"name": f"dense-lstm{size}", "method": "dense", "validation_esr": 0.01,
         "test_esr": dense_esr, "rtf": 0.03, "architecture": {"hidden_size": size}, "fits": True,
         "cpu_seconds": 200.0, "cpu_seconds_charged": 200.0},
        {"name": f"distill-lstm{size}", "method": "distill", "validation_esr": 0.005,
         "test_esr": chosen_esr, "rtf": 0.03, "architecture": {"hidden_size": size},
         "fits": True, "cpu_seconds": 200.0, "cpu_seconds_charged": 900.0},
    ]
    summary = {"chosen": f"distill-lstm{size}", "test_esr": chosen_esr,
               "cpu_seconds": cpu_seconds, "candidates": candidates}
    return {"folder": "shrink", "device": "pedal", "plan": plan, "summary": summary}


def test_the_shrink_bar_is_the_seed_kept_by_validation_at_each_size_that_fits():
    rows = [_front_run(8, 0, 0.0050, 0.02), _front_run(8, 1, 0.0030, 0.05),  # kept: seed 0
            _front_run(8, 2, 0.0100, 0.03), _front_run(16, 0, 0.0010, 0.01)]  # 16 does not fit
    lines = tables.shrink_table(_shrink(0.0045, 0.0060), rows)
    verdict = lines[-2]
    assert "LSTM-8 kept by validation of 3 seeds (seed 0): 0.0050" in verdict
    assert "LSTM-16" not in verdict and verdict.endswith("no worse than the bar.")
    lines = tables.shrink_table(_shrink(0.0055, 0.0060), rows)
    assert lines[-2].endswith("worse than the bar.") and "no worse" not in lines[-2]


def test_a_front_that_cost_more_than_the_shrink_is_no_bar():
    rows = [_front_run(8, seed, 0.001, 0.01, cpu=1000.0) for seed in range(3)]
    verdict = tables.shrink_table(_shrink(0.0045, 0.0060), rows)[-2]
    assert "grid" not in verdict and "its own dense-lstm8: 0.0060" in verdict


def test_a_dense_leader_trained_on_is_one_of_shrinks_own_dense_models():
    def with_trained_on(shrink, leader, test_esr):
        shrink["summary"]["candidates"].append(
            {"name": "trained-on-lstm8", "method": "train_on", "leader": leader,
             "validation_esr": 0.004, "test_esr": test_esr, "rtf": 0.03,
             "architecture": {"hidden_size": 8}, "fits": True, "cpu_seconds": 300.0,
             "cpu_seconds_charged": 500.0})
        return shrink

    lines = tables.shrink_table(with_trained_on(_shrink(0.0045, 0.0060), "dense-lstm8", 0.0040),
                                [])
    assert "| trained-on-lstm8 | 0.0040 | 0.0040 | 0.0300 | 8 | yes | 300 (500) |  |" in lines
    assert "its own trained-on-lstm8: 0.0040" in lines[-2]
    assert lines[-2].endswith("worse than the bar.") and "no worse" not in lines[-2]
    shrink = with_trained_on(_shrink(0.0045, 0.0060), "distill-lstm8", 0.0040)
    assert "trained-on" not in tables.shrink_table(shrink, [])[-2]  # a distilled leader


def test_slimmable_widths_are_set_against_fixed_wavenets_of_the_width(monkeypatch):
    # priced as the fixed WaveNet of the width in bench_engines' run, not as timed in the run
    monkeypatch.setattr(tables, "wavenet_engine_rtfs", lambda: {("wavenet", 4): (0.006, 0.03)})
    slim = {"method": "slim (sandwich)", "architecture": "wavenet", "size": 16, "seed": 0,
            "test_esr_by_width": {"4": 0.04, "8": 0.02, "16": 0.01},
            "rtf_by_width": {"4": 0.01, "8": 0.02, "16": 0.04}, "cpu_seconds": 1800.0,
            "epochs": 22, "width_draws": {"4": 50, "8": 20, "16": 50}}
    fixed = [{"method": "train", "architecture": "wavenet", "size": 4, "test_esr": 0.02},
             {"method": "train", "architecture": "nam_preset", "size": 16, "test_esr": 0.005},
             {"method": "train", "architecture": "nam_preset", "size": 8, "test_esr": 0.001}]
    lines = tables.slim_table([slim, *fixed])
    rows = {line.split(" | ")[3]: line for line in lines[2:]}
    assert set(rows) == {"4", "16"}  # feather (8 channels) has other dilations: no fixed model
    # a sandwich step trains the largest width and others: 50 steps, 120 width passes
    assert rows["4"].endswith("| 0.0400 | 0.0200 | 2.00 | 0.0060 | 1800 | 22 | 50 |")
    assert rows["16"].endswith("| 0.0100 | 0.0050 | 2.00 | not timed | 1800 | 22 | 50 |")
    uniform = {**slim, "method": "slim (uniform)"}
    assert tables.slim_table([uniform, *fixed])[2].endswith("| 22 | 120 |")  # a width a step
    recorded = {**slim, "width_draws": None}  # recorded before the counts were kept
    assert tables.slim_table([recorded, *fixed])[2].endswith("| 22 | - |")
    resumed = {**slim, "width_draws_partial": True}  # resumed before the checkpoint kept counts
    assert tables.slim_table([resumed, *fixed])[2].endswith("| 22 | ≥50 |")


def test_the_across_pedals_table_sets_each_method_against_the_dense_models_of_its_pedal():
    rows = []
    for device, level in (("a", 0.001), ("b", 0.1)):
        for seed, s in enumerate([1.0, 1.3, 0.8]):
            rows.append({**_front_run(8, seed, level * s, 0.01), "device": device, "epochs": 90,
                         "stopped_because": "early_stop"})
            rows.append({"method": "distill (from 32)", "architecture": "lstm", "device": device,
                         "size": 8, "hidden_size": 8, "seed": seed, "test_esr": level * s / 2})
    rows.append({"method": "distill (from 32)", "architecture": "lstm", "device": "a", "size": 16,
                 "hidden_size": 16, "seed": 0, "test_esr": 0.001})  # no dense LSTM-16: left out
    lines = tables.across_pedals_table(tables.lean_and_dense_by_pedal(rows))
    assert len(lines) == 3
    assert lines[2].startswith("| distill (from 32) | 8 | a, b | 6 / 6 | 0.50 (")


def test_each_slimmable_rule_is_set_against_fixed_wavenets_over_its_seeds():
    slim = [{"method": "slim (uniform)", "architecture": "wavenet", "size": 16, "seed": seed,
             "test_esr_by_width": {"4": esr, "2": 0.5}} for seed, esr in enumerate([0.02, 0.04])]
    fixed = [{"method": "train", "architecture": "wavenet", "size": 4, "seed": seed,
              "test_esr": esr} for seed, esr in enumerate([0.01, 0.02])]
    lines = tables.slim_over_seeds_table([*slim, *fixed])
    assert len(lines) == 3  # no fixed model at width 2
    assert lines[2].startswith("| uniform | 4 | 2 | 0.0300 ± ")
    assert "| 0.0150 ± " in lines[2] and "(2) | 2.00 | " in lines[2]


def test_the_cost_front_keeps_a_model_only_if_every_cheaper_one_is_less_accurate(monkeypatch):
    monkeypatch.setattr(tables, "lstm_engine_rtfs", lambda: {8: (0.005, 0.0065),
                                                             16: (0.006, None),
                                                             32: (0.013, 0.02), 48: (0.03, 0.04)})
    monkeypatch.setattr(tables, "wavenet_engine_rtfs", lambda: {("nam_preset", 4): (0.0056, 0.04),
                                                                ("wavenet", 8): (0.012, 0.05)})
    rows = [_front_run(8, 0, 0.01, 0.01), _front_run(8, 1, 0.04, 0.02),  # geomean 0.02
            _front_run(16, 0, 0.003, 0.01),
            _front_run(32, 0, 0.004, 0.01),  # dearer and worse than the LSTM-16
            _front_run(48, 0, 0.002, 0.01, stopped_because="time"),
            _front_run(64, 0, 0.001, 0.01),  # never timed: left out
            {"method": "train", "architecture": "nam_preset", "size": 4, "seed": 0,
             "test_esr": 0.05, "validation_loss": 0.05, "cpu_seconds": 100.0,
             "stopped_because": "patience"},
            {**_front_run(8, 0, 0.0025, 0.01), "architecture": "wavenet"},  # a fixed WaveNet
            {**_front_run(12, 0, 0.001, 0.01), "architecture": "wavenet"}]  # never timed
    points = tables.cost_front(rows)
    assert [p["model"] for p in points] == ["LSTM-8", "WaveNet nano", "LSTM-16",
                                            "WaveNet-8 (standard's dilations)", "LSTM-32",
                                            "LSTM-48"]
    assert [p["on_front"] for p in points] == [True, False, True, True, False, True]
    assert [p["short"] for p in points] == ["8", "nano", "16", "8 ch", "32", "48"]
    assert points[0]["esr"] == pytest.approx(0.02)
    lines = tables.cost_table(points)
    assert lines[2] == "| LSTM-8 | 0.0050 | 0.0065 | 2 | 0.0200 | 0.0100, 0.0400 | 0 | yes |"
    assert "| WaveNet nano | 0.0056 | 0.0400 | 1 | 0.0500 | 0.0500 | 0 |  |" in lines
    assert lines[-1].endswith("| 0.0020 | 1 | yes |")  # the LSTM-48 stopped on its cap
    assert "| LSTM-16 | 0.0060 | not timed |" in lines[4]  # no engine runs it


def test_fixed_wavenets_are_tabled_by_width_with_their_seeds(monkeypatch):
    monkeypatch.setattr(tables, "wavenet_engine_rtfs", lambda: {("wavenet", 4): (0.005, 0.03)})
    rows = [{**_front_run(size, seed, esr, 0.01), "architecture": "wavenet", "epochs": 70}
            for size, seed, esr in [(4, 0, 0.010), (4, 1, 0.020), (8, 0, 0.006)]]
    rows.append({**_front_run(16, 0, 0.004, 0.01), "architecture": "nam_preset"})  # a preset
    lines = tables.fixed_wavenet_table(rows)
    assert len(lines) == 4
    assert lines[2].startswith("| 4 | 2/3 | 0.0150 ± ")
    assert lines[2].endswith("| 0.0100 (seed 0; 600 CPU-s) | 0.0050 | 0.0300 |")
    assert lines[3].endswith("| not timed | not timed |")  # bench_engines never ran 8 channels
    assert tables.fixed_wavenet_table(rows[3:]) == []


def test_runs_are_counted_by_the_cpus_their_attempts_ran_on():
    rows = [{"cpus": ["AMD EPYC"]}, {"cpus": ["AMD EPYC", "AMD EPYC"]},
            {"cpus": [None, "AMD EPYC"]},  # resumed on a machine that records it
            {"cpus": None}, {}]  # before the ledger kept the CPU
    assert tables.cpus_of_runs(rows) == "AMD EPYC 2; AMD EPYC and not recorded 1; not recorded 2"


def test_wavenets_trained_another_way_are_controls_not_part_of_the_front():
    def preset(size, seed, esr, cap=None, stopped="time", epochs=70, **more):
        return {**_front_run(size, seed, esr, 0.01, stopped_because=stopped),
                "architecture": "nam_preset", "cap_minutes": cap, "epochs": epochs, **more}

    rows = [preset(16, 0, 0.0034), preset(16, 1, 0.0039, cap=30, train_changes={}),  # recorded
            # before the cap and the schedule were kept, and after
            preset(16, 0, 0.0017, cap=120, stopped="patience", epochs=260),
            preset(12, 0, 0.0040, cap=120),  # no front run of its seed: nothing to set it against
            preset(16, 0, 0.0030, cap=30, epochs=72, patience=None,  # NAM's trainer
                   train_changes=record.train_changes({
                       "lr_patience": None, "validate_every": 1, "validation_metric": "esr",
                       "overlap_segments": True, "batch_size": 16})),
            preset(12, 1, 0.0041, cap=30, train_changes=record.train_changes({"lr_patience": 5}))]
    assert [r["test_esr"] for r in tables.train_runs_by_size(rows, "nam_preset")[16]] == [
        0.0034, 0.0039]
    assert tables.fixed_wavenet_esrs(rows, 16) == [0.0034, 0.0039]  # the slimmable rules' baseline
    lines = tables.wavenet_controls_table(rows)
    assert lines[2] == "| lite | 0 | cap 120 CPU-min | 0.0040 | 70 | the cap | 300 | - | - |"
    assert lines[3] == ("| standard | 0 | cap 120 CPU-min | 0.0017 | 260 | early stopping | 300 "
                        "| 0.0034, 70 | 0.50 |")
    assert lines[4] == ("| standard | 0 | no early stopping; no plateau halving; validated every "
                        "epoch; best by validation ESR; every output trained | 0.0030 | 72 "
                        "| the cap | 300 | 0.0034, 70 | 0.88 |")
    assert [r["test_esr"] for r in tables.train_runs_by_size(rows, "nam_preset")[12]] == [0.0041]
    assert tables.wavenet_controls_table(rows[:2]) == []


def test_each_slimmable_rule_is_one_curve_over_its_priced_widths(monkeypatch):
    prices = {("wavenet", 4): (0.005, 0.02), ("wavenet", 16): (0.03, 0.04)}
    monkeypatch.setattr(tables, "wavenet_engine_rtfs", lambda: prices)
    slim = [{"method": f"slim ({rule})", "architecture": "wavenet", "size": 16, "seed": seed,
             "test_esr_by_width": {"2": 0.5, "4": esr, "16": esr / 4}}
            for rule, esrs in (("uniform", [0.02, 0.08]), ("sandwich", [0.1]))
            for seed, esr in enumerate(esrs)]
    curves = tables.slim_curves([*slim, {"method": "train", "test_esr_by_width": None}])
    assert list(curves) == ["sandwich", "uniform"]
    # width 2 has no price; each width's point is the geometric mean of the rule's seeds
    assert curves["uniform"] == [{"width": 4, "rtf": 0.005, "esr": pytest.approx(0.04), "seeds": 2},
                                 {"width": 16, "rtf": 0.03, "esr": pytest.approx(0.01), "seeds": 2}]
    assert [p["seeds"] for p in curves["sandwich"]] == [1, 1]


def test_lean_models_are_priced_against_the_best_dense_model_costing_no_more(monkeypatch):
    monkeypatch.setattr(tables, "lstm_engine_rtfs", lambda: {8: (0.005, None), 16: (0.006, None),
                                                             32: (0.013, None)})
    monkeypatch.setattr(tables, "wavenet_engine_rtfs", lambda: {})

    def trimmed(seed, esr16, esr8):  # a full-size level, then 16 units twice, 8, 24 (not timed)
        levels = [{"level": i, "hidden_size": n, "validation_esr": 0.01, "test_esr": e}
                  for i, (n, e) in enumerate([(32, 0.002), (16, esr16), (16, 0.9), (8, esr8)])]
        return {**_front_run(32, seed, 0.002, 0.01), "method": "structured", "levels": levels,
                "converged": [{"hidden_size": 8, "test_esr": 0.001}] if seed == 0 else []}

    rows = [_front_run(8, 0, 0.01, 0.01), _front_run(8, 1, 0.04, 0.01),  # geomean 0.02
            _front_run(16, 0, 0.004, 0.01), _front_run(16, 1, 0.016, 0.01),  # geomean 0.008
            _front_run(32, 0, 0.002, 0.01), trimmed(0, 0.002, 0.02), trimmed(1, 0.008, 0.045)]
    lines = tables.priced_lean_table(rows, tables.cost_front(rows))
    assert lines[2:] == [  # one 8-unit level trained on: a single run, left out
        "| structured from 32, as kept | 8 | 2 | 0.0300 | 0.0200, 0.0450 | 0.0050 | LSTM-8: "
        f"0.0200 | 1.50 | {tables.welch_log_p([0.02, 0.045], [0.01, 0.04])} | LSTM-8 (1.0x) |",
        "| structured from 32, as kept | 16 | 2 | 0.0040 | 0.0020, 0.0080 | 0.0060 | LSTM-16: "
        "0.0080 | 0.50 | "
        f"{tables.welch_log_p([0.002, 0.008], [0.004, 0.016])} | LSTM-32 (2.2x) |",
    ]
