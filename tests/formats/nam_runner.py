"""Run .nam files through the `neural-amp-modeler` package (import `nam`), in its own
environment: `python nam_runner.py JOBS.json`.

JOBS.json: [{"nam": file, "input": x.npy, "output": y.npy, "submodel": index or null,
"layout_0_7": bool, "loudness": bool}, ...]. With "loudness", nam's metadata loudness is
saved beside the output as <output>.loudness.npy. A SlimmableContainer job runs
config.submodels[submodel].
Layer-array "slimmable" markers are dropped before loading: they only describe how the model was
trained, and nam 0.12.x does not know the key. nam 0.13 reads only the 0.7 layer-array layout, so
with "layout_0_7" the legacy keys are rewritten to it (same weights, same meaning: head_size and
head_bias become a 1-tap head rechannel, gated becomes gating_mode "gated" with a Sigmoid gate).
Writes each output as float32 .npy.
"""

import json
import sys

import numpy as np
import torch
from nam.models import init_from_nam


def to_0_7_layout(layer: dict) -> None:
    n = len(layer["dilations"])
    layer["head"] = {
        "out_channels": layer.pop("head_size"), "kernel_size": 1, "bias": layer.pop("head_bias")
    }
    gated = layer.pop("gated")
    layer["activation"] = [layer["activation"]] * n
    layer["gating_mode"] = ["gated" if gated else "none"] * n
    layer["secondary_activation"] = ["Sigmoid" if gated else None] * n


def main(jobs_path: str) -> None:
    torch.set_num_threads(1)  # tiny models; avoids oversubscribing a shared 2-core machine
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        with open(job["nam"]) as f:
            data = json.load(f)
        if data["architecture"] == "SlimmableContainer":
            data = data["config"]["submodels"][job["submodel"]]["model"]
        if data["architecture"] == "WaveNet":
            for layer in data["config"]["layers"]:
                layer.pop("slimmable", None)
                if job.get("layout_0_7") and "head_size" in layer:
                    to_0_7_layout(layer)
        model = init_from_nam(data)
        model.eval()
        x = torch.from_numpy(np.load(job["input"]).astype(np.float32))
        with torch.no_grad():
            y = model(x[None])[0]
        np.save(job["output"], y.numpy().astype(np.float32))
        if job.get("loudness"):
            # NAM's own metadata loudness (dB RMS of the output on its 1 s standard input).
            with torch.no_grad():
                np.save(job["output"] + ".loudness.npy", np.array(model._metadata_loudness()))
    print(f"nam {__import__('nam').__version__}: ran {len(jobs)} model(s)")


if __name__ == "__main__":
    main(sys.argv[1])
