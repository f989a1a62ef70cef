import json

from leanamp.devices.signals import CAPTURE_MIN_SECONDS
from leanamp.formats import load_model
from leanamp.workflows.demo import DEMO_LATENCY, run_demo


def test_demo_writes_model_audio_curves_and_summary(tmp_path):
    summary = run_demo(
        tmp_path, minutes=0.02, hidden_size=4, seconds=max(CAPTURE_MIN_SECONDS, 20), progress=False
    )
    model, metadata = load_model(summary["model"])
    assert metadata["latency"] == DEMO_LATENCY and metadata["polarity"] == 1
    assert metadata["sample_rate"] == 48000 and "test_esr" in metadata
    assert (tmp_path / "loss_curves.png").stat().st_size > 1000
    kinds = sorted(p.name.rsplit("_", 1)[1] for p in (tmp_path / "audio").iterdir())
    assert kinds == ["input.wav", "model.wav", "target.wav"]
    written = json.loads((tmp_path / "summary.json").read_text())
    assert written["test_esr"] == summary["test_esr"] and written["epochs"] >= 1
