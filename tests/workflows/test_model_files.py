"""`leanamp export` / `leanamp import` through the Python API: widths, containers, metadata and
their checks (the checks before the model file is read)."""

from __future__ import annotations

import json

import pytest
import torch

from leanamp.errors import LeanampError
from leanamp.formats import export_model, load_any, save_model
from leanamp.models import LSTMModel, new_model
from leanamp.models.slim import parse_widths
from leanamp.workflows.model_files import describe_model, export_file, import_file


@pytest.fixture
def slimmable_file(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / "slim.leanamp"
    save_model(new_model("wavenet", preset="nano", slimmable=True), path, {"sample_rate": 48000})
    return path


def test_widths_parse_from_text_or_numbers():
    assert parse_widths("1,2,4") == [1, 2, 4] and parse_widths((2, 4)) == [2, 4]
    assert parse_widths(None) is None and parse_widths("") is None
    with pytest.raises(LeanampError, match="--slim-widths '2;4': give widths like"):
        parse_widths("2;4", "--slim-widths")


def test_export_file_cuts_a_width_and_writes_metadata(slimmable_file, tmp_path):
    done = export_file(slimmable_file, tmp_path / "w2.nam", width=2, metadata={"name": "Two"})
    assert done.fmt == "nam" and done.model.channels == (2, 1) and done.slim_widths is None
    model, metadata = load_any(done.path)
    assert model.channels == (2, 1) and metadata["name"] == "Two"
    # An option not given (None) keeps the file's own value.
    again = export_file(done.path, tmp_path / "again.leanamp", metadata={"name": None})
    assert load_any(again.path)[1]["name"] == "Two"


def test_export_file_writes_a_container_from_text_or_a_list(slimmable_file, tmp_path):
    for widths in ("1,2,4", [1, 2, 4]):
        done = export_file(slimmable_file, tmp_path / "c.nam", slim_widths=widths)
        assert done.slim_widths == [1, 2, 4]
        data = json.loads(done.path.read_text())
        assert [s["max_value"] for s in data["config"]["submodels"]] == [0.25, 0.5, 1.0]
    with pytest.raises(LeanampError, match="--slim-widths '1,9'"):
        export_file(slimmable_file, tmp_path / "d.nam", slim_widths="1,9")


def test_export_file_refuses_before_reading_the_model(tmp_path):
    missing = tmp_path / "missing.leanamp"
    with pytest.raises(LeanampError, match="writes a NAM .nam SlimmableContainer"):
        export_file(missing, tmp_path / "c.aidax", slim_widths="2,4")
    with pytest.raises(LeanampError, match="give widths like"):
        export_file(missing, tmp_path / "c.nam", slim_widths="two")
    lstm = tmp_path / "lstm.leanamp"
    save_model(LSTMModel(4), lstm, {"sample_rate": 48000})
    with pytest.raises(LeanampError, match=r"apply to leanamp WaveNets; this model is lstm \("):
        export_file(lstm, tmp_path / "w.nam", width=2)


def test_import_file_picks_a_container_submodel(slimmable_file, tmp_path):
    export_file(slimmable_file, tmp_path / "c.nam", slim_widths="2,4")
    model, _ = import_file(tmp_path / "c.nam", tmp_path / "narrow.leanamp", submodel=0)
    assert model.channels[0] == 2 and load_any(tmp_path / "narrow.leanamp")[0].channels[0] == 2
    with pytest.raises(LeanampError, match="--submodel must be 0..1"):
        import_file(tmp_path / "c.nam", tmp_path / "x.leanamp", submodel=2)
    plain = LSTMModel(3, residual=False)
    export_model(plain, tmp_path / "plain.nam", metadata={"sample_rate": 48000})
    model, metadata = import_file(tmp_path / "plain.nam", tmp_path / "plain.leanamp")
    assert describe_model(model).startswith("lstm (") and metadata["format"]
