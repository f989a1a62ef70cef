"""Run .nam files through the `neural-amp-modeler` package (import `nam`), in its own
environment: `python nam_runner.py JOBS.json`.

JOBS.json: [{"nam": file, "input": x.npy, "output": y.npy, "submodel": index or null,
"loudness": bool}, ...]. Files are loaded exactly as written: no key is rewritten. With
"loudness", nam's metadata loudness is saved beside the output as <output>.loudness.npy. A
SlimmableContainer job runs config.submodels[submodel]["model"] (`nam`'s Python loader has no
container class; the plugin's core picks the submodel the same way).
Writes each output as float32 .npy.
"""

import json
import sys

import numpy as np
import torch
from nam.models import init_from_nam


def main(jobs_path: str) -> None:
    torch.set_num_threads(1)  # tiny models; avoids oversubscribing a shared 2-core machine
    with open(jobs_path) as f:
        jobs = json.load(f)
    for job in jobs:
        with open(job["nam"]) as f:
            data = json.load(f)
        if data["architecture"] == "SlimmableContainer":
            data = data["config"]["submodels"][job["submodel"]]["model"]
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
