"""Property: every loader, fed a mutated model file, gives a valid model or a ModelFileError
naming the file, never another exception, and memory stays bounded (peak RSS).

Mutations act on the bytes (flips, truncation, insertion: damaged files) and on the JSON
structure (values replaced by other types, huge or negative numbers, deep nesting: forged files)
of a valid file of each format: native (.leanamp), NAM (LSTM and WaveNet), AIDA-X, Proteus."""

from __future__ import annotations

import json
import resource
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leanamp.errors import ModelFileError
from leanamp.formats import export_model, load_any, load_model
from leanamp.formats.agm import load_agm
from leanamp.formats.aidax import load_aidax
from leanamp.formats.nam import load_nam, load_nam_slimmable
from leanamp.models import LSTMModel
from leanamp.models.wavenet import WaveNet, preset

LOADERS = {
    "native": [load_any, load_model],
    "nam": [load_any, load_nam, load_nam_slimmable],
    "nam_wavenet": [load_any, load_nam],
    "aidax": [load_any, load_aidax],
    "proteus": [load_any, load_agm],
}
# Peak memory may grow by this much over all examples; a hostile size would take gigabytes.
MAX_RSS_GROWTH_MB = 600


def valid_files(folder: Path) -> dict[str, bytes]:
    torch.manual_seed(0)
    lstm, plain = LSTMModel(3), LSTMModel(3, residual=False)
    paths = {
        "native": export_model(lstm, folder / "m.leanamp", metadata={"sample_rate": 48000}),
        "nam": export_model(plain, folder / "m.nam", metadata={"sample_rate": 48000}),
        "nam_wavenet": export_model(WaveNet(preset("nano")), folder / "w.nam",
                                    metadata={"sample_rate": 48000}),  # fmt: skip
        "aidax": export_model(lstm, folder / "m.aidax", metadata={"sample_rate": 48000}),
        "proteus": export_model(lstm, folder / "p.json", fmt="proteus"),
    }
    return {kind: path.read_bytes() for kind, path in paths.items()}


@pytest.fixture(scope="module")
def originals(tmp_path_factory) -> dict[str, bytes]:
    return valid_files(tmp_path_factory.mktemp("valid"))


HOSTILE_VALUES = st.one_of(
    st.integers(-(10**12), 10**12), st.sampled_from([0, -1, 10**9, 2**63, 1e308, -1e308]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none(),
    st.booleans(), st.just([]), st.just({}), st.just([[[[[[1]]]]]]),
)  # fmt: skip


def mutate_json(value, choices, replacement):
    """Replace one node of the JSON tree (picked by `choices`) with `replacement`."""
    nodes = []

    def walk(node, parent, key):
        nodes.append((parent, key))
        if isinstance(node, dict):
            for k, v in node.items():
                walk(v, node, k)
        elif isinstance(node, list):
            for i, v in enumerate(node[:8]):  # the first entries stand for the rest
                walk(v, node, i)

    walk(value, None, None)
    parent, key = nodes[choices % len(nodes)]
    if parent is None:
        return replacement
    parent[key] = replacement
    return value


@st.composite
def byte_mutations(draw, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "length"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "length" and len(data) >= 8:  # forge the safetensors header length
            data[:8] = draw(st.integers(0, 2**64 - 1)).to_bytes(8, "little")
    return bytes(data)


def check(loader, path: Path) -> None:
    try:
        result = loader(path)
    except ModelFileError as e:
        assert path.name in str(e), str(e)
        return
    # (model, metadata), or load_nam_slimmable's [(max_value, model, metadata), ...]
    models = [entry[1] for entry in result] if isinstance(result, list) else [result[0]]
    assert all(isinstance(m, torch.nn.Module) for m in models)


@pytest.mark.parametrize("kind", list(LOADERS))
def test_damaged_bytes_give_clear_errors_or_models(kind, originals, tmp_path):
    path = tmp_path / {"native": "x.leanamp", "proteus": "x.json", "aidax": "x.aidax"}.get(
        kind, "x.nam")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(data=byte_mutations(originals[kind]))
    def run(data):
        path.write_bytes(data)
        for loader in LOADERS[kind]:
            check(loader, path)

    run()
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mb < MAX_RSS_GROWTH_MB


@pytest.mark.parametrize("kind", [k for k in LOADERS if k != "native"])
def test_forged_json_gives_clear_errors_or_models(kind, originals, tmp_path):
    path = tmp_path / {"proteus": "x.json", "aidax": "x.aidax"}.get(kind, "x.nam")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(choices=st.integers(0, 10**6), replacement=HOSTILE_VALUES)
    def run(choices, replacement):
        value = mutate_json(json.loads(originals[kind]), choices, replacement)
        path.write_text(json.dumps(value))
        for loader in LOADERS[kind]:
            check(loader, path)

    run()
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mb < MAX_RSS_GROWTH_MB


def forged_native(config: dict, metadata: dict) -> bytes:
    header = json.dumps({"__metadata__": {"leanamp_format": "1",
                                          "leanamp_config": json.dumps(config),
                                          "leanamp_metadata": json.dumps(metadata)}}).encode()
    return len(header).to_bytes(8, "little") + header + b"\0" * 256  # fmt: skip


def test_forged_native_headers_give_clear_errors(originals, tmp_path):
    path = tmp_path / "x.leanamp"
    config = {"architecture": "lstm", "hidden_size": 3, "input_size": 1, "residual": True,
              "num_layers": 1}  # fmt: skip
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(choices=st.integers(0, 10**6), replacement=HOSTILE_VALUES)
    def run(choices, replacement):
        document = mutate_json({"config": dict(config), "metadata": {"sample_rate": 48000}},
                               choices, replacement)  # fmt: skip
        if not isinstance(document, dict):
            document = {"config": document, "metadata": {}}
        path.write_bytes(forged_native(document.get("config"), document.get("metadata")))
        for loader in LOADERS["native"]:
            check(loader, path)

    run()
    growth_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert growth_mb < MAX_RSS_GROWTH_MB


@pytest.mark.parametrize("key", ["num_layers", "input_size", "hidden_size"])
def test_a_forged_lstm_size_is_refused_before_anything_is_built(tmp_path, key):
    # Found by the test above: 274854 layers took minutes to build, even on the meta device.
    config = {"architecture": "lstm", "hidden_size": 3, "input_size": 1, "residual": True,
              "num_layers": 1, key: 274854}  # fmt: skip
    path = tmp_path / "x.leanamp"
    path.write_bytes(forged_native(config, {"sample_rate": 48000}))
    started = time.process_time()
    with pytest.raises(ModelFileError, match=f"{key} 274854 is beyond the supported"):
        load_any(path)
    assert time.process_time() - started < 5
