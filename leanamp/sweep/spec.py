"""One run of a sweep, as a JSON-able record (the config expands into these; methods run them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass


@dataclass
class RunSpec:
    """Everything one run needs; JSON-able so it can travel to a Ray worker and into the table."""

    device: dict
    architecture: str
    size: int
    method: str
    seed: int
    train: dict
    method_options: dict
    sample_rate: int
    data_seconds: float
    render_seconds: float
    rtf_seconds: float
    base_dir: str  # folder of the config file: relative data paths are resolved against it
    # Also time the model in its plugin's C++ engine (leanamp.engines.timing). A measurement
    # option, not part of the run's identity: turning it on does not re-run finished runs.
    engine_rtf: bool = False

    @property
    def name(self) -> str:
        return f"{self.device['name']}-{self.architecture}{self.size}-{self.method}-s{self.seed}"

    @property
    def run_id(self) -> str:
        identity = asdict(self)
        identity.pop("base_dir")
        identity.pop("engine_rtf")
        digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
        return f"{self.name}-{digest[:8]}"

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> RunSpec:
        return cls(**values)
