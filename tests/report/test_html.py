from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from leanamp.errors import LeanampError
from leanamp.plots.figures import pareto_front
from leanamp.report.html import _by_width, build_report, load_report_runs

SECTIONS = ["All runs", "Pruning results (as in Table I)", "Loss curves", "Pruning curves",
            "Accuracy versus speed", "Spectra", "Settling time", "Listen"]


def _audio_sources(page: str) -> list[str]:
    return [unquote(s) for s in re.findall(r'<audio[^>]* src="([^"]+)"', page)]


@pytest.fixture(scope="module")
def sweep_report(sweep_dir) -> Path:
    return build_report(sweep_dir)


def test_sweep_report_has_every_section(sweep_dir, sweep_report):
    assert sweep_report == sweep_dir / "report.html"
    page = sweep_report.read_text()
    assert re.findall(r"<h2>([^<]+)</h2>", page) == SECTIONS
    # Failed runs are listed with their error; finished ones with their figures.
    assert "broken-lstm4-train-s0" in page and "missing_dry.wav" in page
    # One device: one figure each of losses, mask search, Pareto front, spectra, settling.
    assert page.count('src="data:image/png;base64,') == 5
    # Table I: the prune run's row holds its unpruned and pruned test ESR in percent.
    prune = next(r for r in load_report_runs(sweep_dir)[1] if r.method == "prune" and r.done)
    assert f"{100 * prune.metrics['test_esr_unpruned']:.2f}" in page
    assert f"{100 * prune.metrics['test_esr']:.2f}" in page
    # Input, target and both models' outputs, every one an existing file beside the page.
    sources = _audio_sources(page)
    assert len(sources) == 4
    assert all((sweep_dir / s).is_file() for s in sources)
    assert not any(s.startswith(("/", "http")) for s in sources)


def test_report_of_one_run_folder(sweep_dir, tmp_path):
    run = next(p for p in (sweep_dir / "runs").iterdir() if "train" in p.name)
    out = build_report(run, tmp_path / "page.html")
    page = out.read_text()
    assert "Run od-lstm4-train-s0" in page
    assert "Pruning results" not in page  # a plain training run has no pruning table
    assert all((tmp_path / s).resolve().is_file() for s in _audio_sources(page))


def test_report_of_a_training_output_folder(tmp_path):
    from leanamp.data import Clip, DeviceData, split_by_time
    from leanamp.devices.circuits import get_device
    from leanamp.devices.signals import guitar_signal
    from leanamp.models import LSTMModel
    from leanamp.train import TrainConfig
    from leanamp.workflows.training import train_on_data

    x = guitar_signal(2, 16000, 0)
    y = get_device("diode-clipper", sample_rate=16000).render(x)
    train, validation, test = split_by_time([Clip("take", x[:, None], y, 16000)])
    summary = train_on_data(
        DeviceData(train, validation, test, 16000), tmp_path, LSTMModel(hidden_size=3),
        TrainConfig(max_epochs=1, segment_seconds=0.2, batch_size=4, warmup_samples=200,
                    tbptt_samples=400, validate_every=1), progress=False, render_seconds=0.3,
    )
    page = build_report(tmp_path).read_text()
    assert "Training run" in page and "Loss curves" in page and "Settling time" in page
    sources = _audio_sources(page)
    assert len(sources) == 3 and all((tmp_path / s).is_file() for s in sources)
    assert f"{100 * summary['test_esr']:.2f}" in page


def test_report_refuses_a_folder_it_does_not_know(tmp_path):
    with pytest.raises(LeanampError, match="neither a sweep folder"):
        build_report(tmp_path)
    with pytest.raises(LeanampError, match="no such folder"):
        build_report(tmp_path / "missing")


def test_pareto_front_keeps_the_undominated_points():
    points = [(1.0, 5.0), (2.0, 3.0), (3.0, 4.0), (0.5, 9.0), (4.0, 1.0), (2.0, 3.5)]
    assert pareto_front(points) == [3, 0, 1, 4]
    assert pareto_front([]) == []


def test_report_page_loads_in_a_browser(sweep_report, chromium):
    page = chromium.new_page()
    page.goto(sweep_report.resolve().as_uri())
    assert page.title() == "Sweep report-test"
    images = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
    assert images and all(width > 0 for width in images)
    # Every player points at an existing WAV file that the browser can decode.
    sources = page.eval_on_selector_all("audio", "els => els.map(e => e.src)")
    assert len(sources) == 4
    for src in sources:
        assert Path(unquote(src.removeprefix("file://"))).is_file()
    durations = page.evaluate("""async () => Promise.all([...document.querySelectorAll('audio')]
        .map(a => new Promise((ok, fail) => {
            a.onloadedmetadata = () => ok(a.duration); a.onerror = () => fail(a.src);
            a.preload = 'metadata'; a.load(); })))""")
    assert all(abs(d - 0.3) < 0.01 for d in durations)  # test clip: last 15% of 2 s
    page.close()


def test_a_slimmable_run_is_reported_width_by_width(tmp_path):
    import yaml

    from leanamp.sweep import ResultsTable, execute_run, load_sweep_config

    from .conftest import CONFIG

    config = {**CONFIG, "name": "slim-report", "devices": [{"name": "od", "device": "overdrive"}],
              "architectures": ["wavenet"], "sizes": [2], "methods": ["slim"],
              "train": {"max_epochs": 1, "segment_seconds": 0.5, "batch_size": 4}}  # fmt: skip
    config.pop("prune")
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    out = tmp_path / "out"
    table = ResultsTable(out)
    table.set_info(name=config["name"])
    (spec,) = load_sweep_config(tmp_path / "sweep.yaml").runs
    table.register(spec.run_id, spec.to_dict(), spec.name, f"runs/{spec.run_id}")
    result = execute_run(spec.to_dict(), str(out / "runs" / spec.run_id))
    table.mark_done(spec.run_id, result)
    page = build_report(out).read_text()
    assert "<h2>Slimmable models by width</h2>" in page and "<h2>Accuracy versus speed</h2>" in page
    section = page.split("<h2>Slimmable models by width</h2>")[1].split("<h2>")[0]
    for width in ("1", "2"):
        esr = result["metrics"]["test_esr_by_width"][width]
        assert f">{width}</td><td>{100 * esr:.2f}</td>" in section
    runs = load_report_runs(out)[1]
    assert [w for w, _, _ in _by_width(runs[0])] == [1, 2]
