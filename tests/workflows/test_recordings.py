"""The checks of `leanamp train` and `leanamp prune` live in the API: a Python caller gets them too,
before any recording is read."""

import pytest

from leanamp.errors import LeanampError
from leanamp.workflows.prune import prune_recordings
from leanamp.workflows.recordings import check_model_options, train_device


def test_widths_parse_from_text_or_list():
    assert check_model_options("wavenet", slimmable=True, widths="4,8,16") == [4, 8, 16]
    assert check_model_options("wavenet", slimmable=True, widths=[2, 16]) == [2, 16]
    assert check_model_options("lstm") is None


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"architecture": "nam_wavenet"}, "choose lstm or wavenet"),
        ({"architecture": "lstm", "slimmable": True}, "apply to --architecture wavenet"),
        ({"architecture": "wavenet", "hidden_size": 8}, "--hidden-size apply to LSTMs"),
        ({"architecture": "wavenet", "widths": "4,8"}, "add --slimmable"),
        ({"architecture": "wavenet", "slimmable": True, "widths": "4;8"}, "give widths like"),
        ({"preset": "huge"}, "--preset 'huge'"),
    ],
)
def test_bad_model_options_are_refused(options, fragment):
    with pytest.raises(LeanampError, match=fragment):
        check_model_options(**options)


def test_train_device_checks_options_before_reading_recordings(tmp_path):
    with pytest.raises(LeanampError, match="apply to --architecture wavenet"):
        train_device(tmp_path / "missing", tmp_path / "missing", tmp_path / "out", slimmable=True)
    assert not (tmp_path / "out").exists()


def test_prune_recordings_refuses_an_unknown_method_before_reading(tmp_path):
    with pytest.raises(LeanampError, match="use magnitude or structured"):
        prune_recordings(tmp_path / "missing", tmp_path / "missing", tmp_path / "out",
                         method="random")
