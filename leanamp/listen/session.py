"""A MUSHRA listening test (ITU-R BS.1534 style, as in Südholt et al. 2022, section V-D).

A test folder holds `test.json` (the trials), `stimuli/` (the WAV files) and `answers/` (one JSON
file per participant, rewritten atomically after every rating so a closed browser loses nothing).
Each trial has a reference (the device's output on a clip) and conditions rated against it on
0-100: the hidden reference, a low anchor (the input through a tanh waveshaper, as in the paper)
and the models under test. Trials and conditions are shuffled per participant; the page only sees
opaque slot letters, so it cannot tell which is which.

Post-screening follows the paper: a listener who rates the hidden reference below 90 in more than
15% of their trials is dropped. Scores are reported as means with 95% confidence intervals
(Student's t) per device and condition.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import stats

from leanamp.audio.io import read_audio, write_audio
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.plots import plt, save_figure
from leanamp.report.html import load_report_runs

TEST_FILE = "test.json"
REFERENCE = "reference"  # the hidden reference's condition name
ANCHOR = "anchor"
ANCHOR_DRIVE = 10.0  # gain into the tanh: a crude, clearly distorted low anchor
SCREEN_SCORE = 90  # post-screening: hidden reference rated below this ...
SCREEN_FRACTION = 0.15  # ... in more than this share of the trials drops the listener
PARTICIPANT_ID = re.compile(r"[0-9a-f]{16}")


def tanh_anchor(x: np.ndarray, reference: np.ndarray, drive: float = ANCHOR_DRIVE) -> np.ndarray:
    """The paper's low anchor: the input through tanh, matched in RMS level to the reference."""
    y = np.tanh(drive * np.asarray(x, dtype=np.float64))
    rms_y = np.sqrt(np.mean(y**2))
    rms_ref = np.sqrt(np.mean(np.asarray(reference, dtype=np.float64) ** 2))
    if rms_y > 0:
        y *= rms_ref / rms_y
    peak = np.max(np.abs(y)) if len(y) else 0.0
    if peak > 0.99:  # keep the file writable as PCM without clipping
        y *= 0.99 / peak
    return y.astype(np.float32)


def prepare_listening_test(
    source: str | os.PathLike,
    out_dir: str | os.PathLike,
    seconds: float | None = 8.0,
    runs: list[str] | None = None,
    title: str = "",
) -> Path:
    """Build a test folder from a sweep or run folder: one trial per device and test clip.

    `runs` restricts the models under test to those run names; `seconds` cuts every stimulus.
    Returns the folder.
    """

    report_title, all_runs = load_report_runs(source)
    chosen = [r for r in all_runs if r.done and (runs is None or r.name in runs)]
    if runs is not None:
        missing = sorted(set(runs) - {r.name for r in chosen})
        if missing:
            raise LeanampError(f"{source}: no finished runs named {missing}")
    out_dir = Path(out_dir)
    trials = []
    devices = dict.fromkeys(r.device for r in chosen)
    for device in devices:
        by_clip: dict[str, list] = {}
        for r in chosen:
            if r.device == device:
                for entry in r.artefacts.get("audio", []):
                    by_clip.setdefault(entry["clip"], []).append((r, entry))
        for clip, entries in by_clip.items():
            first_run, first = entries[0]
            target = read_audio(first_run.path(first["target"]))
            dry = read_audio(first_run.path(first["input"]))
            rate = target.sample_rate
            n = len(target.samples) if seconds is None else min(len(target.samples),
                                                                  int(seconds * rate))
            reference = target.samples[:n, 0]
            trial_id = f"t{len(trials) + 1:02d}"
            signals = {REFERENCE: reference,
                       ANCHOR: tanh_anchor(dry.samples[:n, 0], reference)}
            for run, entry in entries:
                signals[run.name] = read_audio(run.path(entry["model"])).samples[:n, 0]
            files = {}
            for index, (condition, audio) in enumerate(signals.items()):
                path = out_dir / "stimuli" / f"{trial_id}_{index:02d}.wav"
                write_audio(path, np.clip(audio, -1.0, 1.0), rate, subtype="PCM_24")
                files[condition] = path.relative_to(out_dir).as_posix()
            trials.append({"id": trial_id, "device": device, "clip": clip, "sample_rate": rate,
                           "reference": files[REFERENCE], "conditions": files})
    if not trials:
        raise LeanampError(
            f"{source}: no finished run with rendered test audio; run the sweep or training first"
        )
    test = {"title": title or f"Listening test: {report_title}", "trials": trials,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_text_atomic(out_dir / TEST_FILE, json.dumps(test, indent=1))
    (out_dir / "answers").mkdir(exist_ok=True)
    return out_dir


def load_test(test_dir: str | os.PathLike) -> dict:
    path = Path(test_dir) / TEST_FILE
    if not path.exists():
        raise LeanampError(
            f"{test_dir}: no {TEST_FILE}; prepare the test from a sweep folder first"
        )
    try:
        test = json.loads(path.read_text())
        for trial in test["trials"]:
            if REFERENCE not in trial["conditions"]:
                raise KeyError(REFERENCE)
    except (ValueError, KeyError, TypeError) as e:
        raise LeanampError(f"{path}: not a listening test file ({e}); prepare it again") from None
    return test


class AnswerStore:
    """Participants' sessions and ratings, one JSON file each under `answers/`."""

    def __init__(self, test_dir: str | os.PathLike):
        self.test_dir = Path(test_dir)
        self.test = load_test(test_dir)
        self.trials = {t["id"]: t for t in self.test["trials"]}
        self.folder = self.test_dir / "answers"
        self.folder.mkdir(exist_ok=True)
        self._lock = threading.Lock()

    def _path(self, participant: str) -> Path:
        if not PARTICIPANT_ID.fullmatch(participant or ""):
            raise LeanampError(f"malformed participant id {participant!r}")
        return self.folder / f"{participant}.json"

    def start(self, name: str) -> dict:
        """A new participant with their own random order of trials and conditions."""
        rng = np.random.default_rng(secrets.randbits(64))
        participant = secrets.token_hex(8)
        trial_order = [self.test["trials"][i]["id"] for i in rng.permutation(len(self.trials))]
        slots = {}
        for trial_id, trial in self.trials.items():
            names = list(trial["conditions"])
            slots[trial_id] = [names[i] for i in rng.permutation(len(names))]
        record = {
            "participant": participant,
            "name": str(name)[:100],
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "trial_order": trial_order,
            "slots": slots,  # per trial: condition name of slot 0, 1, ...
            "ratings": {},  # per trial: {condition: score}
            "complete": [],  # trials the participant confirmed
        }
        with self._lock:
            write_text_atomic(self._path(participant), json.dumps(record, indent=1))
        return record

    def load(self, participant: str) -> dict:
        path = self._path(participant)
        if not path.exists():
            raise LeanampError(f"unknown participant {participant}")
        return json.loads(path.read_text())

    def rate(self, participant: str, trial_id: str, ratings: dict, complete: bool) -> dict:
        """Store a participant's ratings of one trial's slots (0-100 each)."""
        if trial_id not in self.trials:
            raise LeanampError(f"unknown trial {trial_id!r}")
        with self._lock:
            record = self.load(participant)
            slots = record["slots"][trial_id]
            stored = record["ratings"].setdefault(trial_id, {})
            for slot, score in ratings.items():
                index = int(slot)
                if not 0 <= index < len(slots):
                    raise LeanampError(f"trial {trial_id} has no slot {slot}")
                if isinstance(score, bool) or not isinstance(score, int | float) or not (
                        0 <= score <= 100):
                    raise LeanampError(f"a rating must be a number in 0..100, got {score!r}")
                stored[slots[index]] = float(score)
            if complete:
                if len(stored) != len(slots):
                    raise LeanampError(f"trial {trial_id}: rate every condition before going on")
                if trial_id not in record["complete"]:
                    record["complete"].append(trial_id)
            record["updated"] = datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds")
            write_text_atomic(self._path(participant), json.dumps(record, indent=1))
        return record

    def participants(self) -> list[dict]:
        return [json.loads(p.read_text()) for p in sorted(self.folder.glob("*.json"))]


# --- analysis -------------------------------------------------------------------------------------


@dataclass
class ConditionScore:
    device: str
    condition: str
    mean: float
    ci95: float  # half-width of the 95% confidence interval
    count: int


@dataclass
class ListeningResults:
    scores: list[ConditionScore]
    kept: list[str]
    dropped: dict[str, str] = field(default_factory=dict)  # participant -> reason

    def table(self) -> str:
        lines = [f"{'device':<14} {'condition':<32} {'mean':>6} {'95% CI':>8} {'n':>4}"]
        for s in self.scores:
            lines.append(f"{s.device:<14} {s.condition:<32} {s.mean:>6.1f} {s.ci95:>8.1f} "
                         f"{s.count:>4}")
        lines.append(f"listeners kept: {len(self.kept)}, dropped in post-screening: "
                     f"{len(self.dropped)}")
        return "\n".join(lines)


def screen_participant(record: dict) -> str | None:
    """The reason to drop a listener under the paper's rule, or None to keep them."""
    trials = [t for t in record.get("complete", []) if REFERENCE in record["ratings"].get(t, {})]
    if not trials:
        return "no completed trials"
    low = sum(record["ratings"][t][REFERENCE] < SCREEN_SCORE for t in trials)
    if low / len(trials) > SCREEN_FRACTION:
        return (f"rated the hidden reference below {SCREEN_SCORE} in {low} of {len(trials)} "
                f"trials (more than {100 * SCREEN_FRACTION:.0f}%)")
    return None


def mean_ci95(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (Student's t)."""
    x = np.asarray(values, dtype=np.float64)
    if len(x) < 2:
        return float(x.mean()) if len(x) else float("nan"), float("nan")
    half = stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean()), float(half)


def analyse_answers(test_dir: str | os.PathLike) -> ListeningResults:
    """Post-screen the listeners and compute each condition's mean score and 95% CI per device."""
    store = AnswerStore(test_dir)
    kept, dropped = [], {}
    collected: dict[tuple[str, str], list[float]] = {}
    for record in store.participants():
        reason = screen_participant(record)
        if reason:
            dropped[record["participant"]] = reason
            continue
        kept.append(record["participant"])
        for trial_id in record["complete"]:
            device = store.trials[trial_id]["device"]
            for condition, score in record["ratings"][trial_id].items():
                collected.setdefault((device, condition), []).append(score)
    scores = []
    for (device, condition), values in collected.items():
        mean, half = mean_ci95(values)
        scores.append(ConditionScore(device, condition, mean, half, len(values)))
    order = {REFERENCE: 0, ANCHOR: 2}
    scores.sort(key=lambda s: (s.device, order.get(s.condition, 1), s.condition))
    return ListeningResults(scores, kept, dropped)


def plot_listening_results(results: ListeningResults, path: str | os.PathLike) -> Path:
    """Mean scores with 95% confidence intervals, one panel per device (paper, Fig. 9)."""

    devices = list(dict.fromkeys(s.device for s in results.scores))
    if not devices:
        raise LeanampError("no kept listener has completed a trial yet: nothing to plot")
    fig, axes = plt.subplots(1, len(devices), figsize=(4.5 * len(devices), 4), squeeze=False)
    for ax, device in zip(axes[0], devices, strict=True):
        scores = [s for s in results.scores if s.device == device]
        positions = np.arange(len(scores))
        ax.errorbar(positions, [s.mean for s in scores],
                    yerr=[0 if np.isnan(s.ci95) else s.ci95 for s in scores],
                    fmt="o", capsize=4)
        ax.set_xticks(positions, [s.condition for s in scores], rotation=30, ha="right",
                      fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_ylabel("MUSHRA score")
        ax.set_title(device)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle(f"Mean scores and 95% confidence intervals ({len(results.kept)} listeners)")
    return save_figure(fig, path)


def write_listening_results(test_dir: str | os.PathLike) -> tuple[ListeningResults, Path]:
    """Analyse the answers; write results.json and results.png into the test folder."""
    results = analyse_answers(test_dir)
    test_dir = Path(test_dir)
    plot = plot_listening_results(results, test_dir / "results.png")
    payload = {
        "kept": results.kept,
        "dropped": results.dropped,
        "screening": {"reference_below": SCREEN_SCORE, "in_more_than_fraction": SCREEN_FRACTION},
        "scores": [s.__dict__ for s in results.scores],
    }
    write_text_atomic(test_dir / "results.json", json.dumps(payload, indent=1))
    return results, plot
