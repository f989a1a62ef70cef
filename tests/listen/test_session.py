from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
from scipy import stats

from leanamp.errors import LeanampError
from leanamp.listen import (
    AnswerStore,
    analyse_answers,
    prepare_listening_test,
    screen_participant,
    tanh_anchor,
    write_listening_results,
)


def test_tanh_anchor_is_a_level_matched_waveshaper():
    x = np.linspace(-0.5, 0.5, 1001)
    reference = 0.2 * np.sin(np.linspace(0, 40, 1001))
    y = tanh_anchor(x, reference)
    assert np.sqrt(np.mean(y**2)) == pytest.approx(np.sqrt(np.mean(reference**2)), rel=1e-5)
    assert np.all(np.diff(y) > 0) and np.allclose(y, -y[::-1])  # monotone, odd
    shape = np.tanh(10 * x)
    assert np.allclose(y / y.max(), shape / shape.max(), atol=1e-6)


def test_prepare_builds_one_trial_per_device_and_clip(sweep_dir, tmp_path):
    test_dir = prepare_listening_test(sweep_dir, tmp_path / "test", seconds=0.5)
    test = json.loads((test_dir / "test.json").read_text())
    assert [t["device"] for t in test["trials"]] == ["od", "amp"]
    for trial in test["trials"]:
        device = trial["device"]
        assert list(trial["conditions"]) == ["reference", "anchor", f"{device}-lstm4-train-s0",
                                             f"{device}-lstm8-train-s0"]
        for path in trial["conditions"].values():
            audio, rate = sf.read(test_dir / path)
            assert rate == 16000 and len(audio) == 8000
            assert device not in path and "anchor" not in path  # file names reveal nothing
        target, _ = sf.read(sweep_dir / "runs" / f"{device}-lstm4-train-s0/audio/take_target.wav")
        reference, _ = sf.read(test_dir / trial["reference"])
        assert np.allclose(reference, target[:8000], atol=1e-6)
    only = prepare_listening_test(sweep_dir, tmp_path / "one", runs=["amp-lstm8-train-s0"])
    (trial,) = json.loads((only / "test.json").read_text())["trials"]
    assert list(trial["conditions"]) == ["reference", "anchor", "amp-lstm8-train-s0"]
    with pytest.raises(LeanampError, match="no finished runs named"):
        prepare_listening_test(sweep_dir, tmp_path / "none", runs=["nope"])


def test_answers_are_validated_and_on_disk_after_every_rating(sweep_dir, tmp_path):
    store = AnswerStore(prepare_listening_test(sweep_dir, tmp_path / "test", seconds=0.2))
    record = store.start("A")
    pid = record["participant"]
    assert sorted(record["trial_order"]) == ["t01", "t02"]
    assert set(record["slots"]["t01"]) == set(store.trials["t01"]["conditions"])
    store.rate(pid, "t01", {"0": 70}, complete=False)
    on_disk = json.loads((store.folder / f"{pid}.json").read_text())
    assert on_disk["ratings"] == {"t01": {record["slots"]["t01"][0]: 70.0}}
    with pytest.raises(LeanampError, match="rate every condition"):
        store.rate(pid, "t01", {}, complete=True)
    with pytest.raises(LeanampError, match="0..100"):
        store.rate(pid, "t01", {"1": 101}, complete=False)
    with pytest.raises(LeanampError, match="no slot"):
        store.rate(pid, "t01", {"9": 50}, complete=False)
    with pytest.raises(LeanampError, match="unknown trial"):
        store.rate(pid, "t09", {"0": 50}, complete=False)
    with pytest.raises(LeanampError, match="malformed participant"):
        store.load("../../etc/passwd")
    store.rate(pid, "t01", {"1": 10, "2": 20, "3": 30}, complete=True)
    assert json.loads((store.folder / f"{pid}.json").read_text())["complete"] == ["t01"]


def _listener(trials: int, low_reference_trials: int) -> dict:
    ratings = {f"t{i}": {"reference": 80.0 if i < low_reference_trials else 100.0,
                         "anchor": 10.0} for i in range(trials)}
    return {"participant": "p", "ratings": ratings, "complete": list(ratings)}


def test_post_screening_rule_of_the_paper():
    assert screen_participant(_listener(7, 1)) is None  # 1 of 7 = 14% <= 15%: kept
    assert "2 of 7" in screen_participant(_listener(7, 2))  # 29% > 15%: dropped
    assert screen_participant(_listener(20, 3)) is None  # exactly 15% is not more than 15%
    assert screen_participant(_listener(20, 4)) is not None
    assert screen_participant({"participant": "p", "ratings": {}, "complete": []})


def test_analysis_drops_listeners_and_reports_t_intervals(sweep_dir, tmp_path):
    store = AnswerStore(prepare_listening_test(sweep_dir, tmp_path / "test", seconds=0.2))
    model_scores = {"good": [80, 90], "other": [60, 70], "careless": [50, 50]}
    ids = {}
    for name, scores in model_scores.items():
        record = store.start(name)
        ids[name] = record["participant"]
        for trial_id, score in zip(["t01", "t02"], scores, strict=True):
            reference = 40 if name == "careless" else 100
            by_condition = {"reference": reference, "anchor": 5}
            by_condition.update({c: score for c in store.trials[trial_id]["conditions"]
                                 if c not in by_condition})
            slots = {str(i): by_condition[c] for i, c in enumerate(record["slots"][trial_id])}
            store.rate(record["participant"], trial_id, slots, complete=True)
    results = analyse_answers(store.test_dir)
    assert sorted(results.kept) == sorted([ids["good"], ids["other"]])
    assert list(results.dropped) == [ids["careless"]]
    od = {s.condition: s for s in results.scores if s.device == "od"}
    assert list(od) == ["reference", "od-lstm4-train-s0", "od-lstm8-train-s0", "anchor"]
    # od is trial t01: the kept listeners gave its models 80 and 60.
    values = np.array([80.0, 60.0])
    half = stats.t.ppf(0.975, 1) * values.std(ddof=1) / np.sqrt(2)
    assert od["od-lstm4-train-s0"].mean == pytest.approx(70.0)
    assert od["od-lstm4-train-s0"].ci95 == pytest.approx(half)
    assert od["reference"].mean == 100 and od["reference"].ci95 == 0
    results, plot = write_listening_results(store.test_dir)
    assert plot.stat().st_size > 0
    saved = json.loads((store.test_dir / "results.json").read_text())
    assert saved["dropped"] == {ids["careless"]: results.dropped[ids["careless"]]}
