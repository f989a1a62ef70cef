import numpy as np
import pytest
import soundfile as sf
import torch

from leanamp.data import (
    Clip,
    find_pairs,
    load_device_data,
    make_segments,
    split_by_names,
    split_by_time,
)
from leanamp.errors import DataError

RATE = 8000


def write_pair(folder, name, x, y, prefix=""):
    (folder / "dry").mkdir(exist_ok=True)
    (folder / "wet").mkdir(exist_ok=True)
    sf.write(folder / "dry" / f"{name}.wav", x, RATE, subtype="FLOAT")
    sf.write(folder / "wet" / f"{prefix}{name}.wav", y, RATE, subtype="FLOAT")


def device(x, latency=3):
    y = np.tanh(3 * x)
    return np.concatenate([np.zeros(latency), y[:-latency]])


@pytest.fixture
def folder(tmp_path, rng):
    for name in ["a", "b", "c"]:
        x = 0.3 * rng.standard_normal(RATE * 2)
        write_pair(tmp_path, name, x, device(x), prefix="pedal_")
    return tmp_path


def test_find_pairs_matches_prefixed_names(folder):
    pairs = find_pairs(folder / "dry", folder / "wet", "pedal_")
    assert [(i.name, t.name) for i, t in pairs] == [
        ("a.wav", "pedal_a.wav"),
        ("b.wav", "pedal_b.wav"),
        ("c.wav", "pedal_c.wav"),
    ]


def test_find_pairs_says_how_to_fix_a_missing_prefix(folder):
    with pytest.raises(DataError, match="--target-prefix"):
        find_pairs(folder / "dry", folder / "wet")


def test_find_pairs_refuses_a_file_with_a_folder(folder):
    with pytest.raises(DataError, match="two files or two folders"):
        find_pairs(folder / "dry" / "a.wav", folder / "wet")


def test_device_data_split_by_clip_aligned_jointly(folder):
    data = load_device_data(folder / "dry", folder / "wet", "pedal_", validation=["b"], test=["c"])
    assert [c.name for c in data.train] == ["a"]
    assert [c.name for c in data.validation] == ["b"] and [c.name for c in data.test] == ["c"]
    assert data.alignment.latency == 3 and data.alignment.polarity == 1
    clip = data.train[0]
    assert np.allclose(clip.target, np.tanh(3 * clip.input[:, 0]), atol=1e-6)


def test_split_by_names_rejects_unknown_clips(folder):
    clips = [Clip("a", np.zeros(10, np.float32), np.zeros(10, np.float32), RATE)]
    with pytest.raises(DataError, match="'z'"):
        split_by_names(clips, ["z"], [])


def test_split_by_time_keeps_order_and_lengths():
    x = np.arange(100, dtype=np.float32)
    train, val, test = split_by_time([Clip("c", x, x, RATE)], 0.2, 0.1)
    assert [len(c.target) for c in (*train, *val, *test)] == [70, 20, 10]
    assert val[0].target[0] == 70 and test[0].target[0] == 90


def test_segments_carry_knob_channels():
    x = np.stack([np.arange(10), np.full(10, 0.25)], axis=1).astype(np.float32)
    inputs, targets = make_segments([Clip("k", x, np.arange(10, dtype=np.float32), RATE)], 4)
    assert inputs.shape == (2, 4, 2) and targets.shape == (2, 4)
    assert (inputs[..., 1] == 0.25).all() and inputs[1, 0, 0] == 4


def test_overlapping_segments_train_every_sample_after_the_history():
    # NAM's windows: each starts where the last one's trained outputs ended, `history` back.
    target = np.arange(20, dtype=np.float32)
    inputs, targets = make_segments([Clip("o", target.copy(), target, RATE)], 8, hop=5)
    history = 8 - 5  # the outputs a segment spends on its receptive field
    assert targets[:, 0].tolist() == [0, 5, 10]
    trained = np.concatenate([t[history:] for t in targets.numpy()])
    assert trained.tolist() == list(range(history, 18))  # no gap, no repeat; 18-19 do not fit
    assert torch.equal(inputs[..., 0], targets)


def test_segments_too_short_is_a_clear_error():
    clip = Clip("short", np.zeros(3, np.float32), np.zeros(3, np.float32), RATE)
    with pytest.raises(DataError, match="too short"):
        make_segments([clip], 4)


def test_morphdrive_split_from_provenance(morphdrive):
    data = load_device_data(
        morphdrive / "dry",
        morphdrive / "pedal",
        "a_zendrive_g5_t3_",
        validation=["guitar-chords"],
        test=["guitar-funk2"],
    )
    assert len(data.train) == 6 and data.sample_rate == 48000
    assert 50 < sum(c.seconds for c in data.train) < 60
    assert data.alignment.polarity in (1, -1) and 0 <= data.alignment.latency <= 12
