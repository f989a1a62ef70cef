"""The C++ engines that plugins play leanamp's exports in, built from source on first use.

NeuralAmpModelerCore (the Neural Amp Modeler plugin; .nam) and RTNeural (AIDA-X, GuitarML
Proteus / NeuralPi / Chameleon; JSON) come as source snapshots in a peers folder
($LEANAMP_PEERS, else ../shared/peers beside the checkout). `build_driver` extracts a snapshot
into the cache folder ($LEANAMP_ENGINE_CACHE, else ~/.cache/leanamp/engines) and compiles one of
leanamp's own drivers (drivers/*.cpp with their shared drivers/*.h, shipped with the package)
against it with one plain compiler call per source file ($CXX, else g++; -O3, optionally
-march=native). Builds are cached under a hash of the sources, flags and compiler version.
`run_engine` processes audio through a driver in blocks, as a plugin does; `time_engine` measures
its real-time factor (thread CPU time).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leanamp.errors import LeanampError

DRIVERS = Path(__file__).with_name("drivers")
EIGEN_INCLUDE = Path("/usr/include/eigen3")
DEFAULT_BLOCK = 256
ENGINES = ("nam", "rtneural")
# The engine that plays each kind of model file.
ENGINE_BY_SUFFIX = {".nam": "nam", ".json": "rtneural", ".aidax": "rtneural"}
ENGINE_NAMES = {"nam": "NeuralAmpModelerCore", "rtneural": "RTNeural"}


@dataclass(frozen=True)
class EngineRun:
    """An engine's output (time,) float32 and what the driver reported (e.g. prewarm_samples)."""

    output: np.ndarray
    info: dict[str, str]

    @property
    def prewarm_samples(self) -> int:
        """Zeros the engine ran through the model before the audio (NAM Core's Reset)."""
        return int(self.info.get("prewarm_samples", 0))


def peers_dir() -> Path:
    given = os.environ.get("LEANAMP_PEERS")
    return Path(given) if given else Path(__file__).resolve().parents[3] / "shared" / "peers"


def cache_dir() -> Path:
    given = os.environ.get("LEANAMP_ENGINE_CACHE")
    return Path(given) if given else Path.home() / ".cache" / "leanamp" / "engines"


def engine_for(path: str | os.PathLike) -> str:
    """'nam' or 'rtneural': the engine whose plugins play this model file."""
    engine = ENGINE_BY_SUFFIX.get(Path(path).suffix.lower())
    if engine is None:
        raise LeanampError(
            f"{path}: no plugin engine plays this kind of file; give a .nam (NAM Core) or an "
            "AIDA-X / Proteus / NeuralPi .json (RTNeural)"
        )
    return engine


def _snapshot(engine: str) -> Path:
    """The engine's source tree, extracted once from its peers archive into the cache."""
    prefix = ENGINE_NAMES[engine]
    archives = sorted(peers_dir().glob(f"{prefix}-*.tar.gz"))
    if not archives:
        raise LeanampError(
            f"{peers_dir()}: no {prefix}-*.tar.gz source snapshot; set LEANAMP_PEERS to the folder "
            "that holds the engine snapshots (../shared/peers)"
        )
    archive = archives[-1]
    target = cache_dir() / "src" / archive.name.removesuffix(".tar.gz")
    if (target / prefix).is_dir():
        return target / prefix
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=target.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(staging, filter="data")
        if not (staging / prefix).is_dir():
            raise LeanampError(f"{archive}: has no top-level {prefix}/ folder")
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target / prefix


def _compiler() -> str:
    compiler = shutil.which(os.environ.get("CXX", "g++"))
    if compiler is None:
        raise LeanampError(
            "no C++ compiler found to build the engine drivers: install g++ (Debian: "
            "apt-get install g++) or set CXX"
        )
    return compiler


def _build_plan(engine: str, source: Path) -> tuple[list[str], list[Path], Path]:
    """(compile flags, engine source files, driver source) for one engine."""
    if engine == "nam":
        if not (EIGEN_INCLUDE / "Eigen" / "Core").is_file():
            raise LeanampError(
                f"{EIGEN_INCLUDE}: Eigen headers missing, needed to build NeuralAmpModelerCore: "
                "install them (Debian: apt-get install libeigen3-dev)"
            )
        flags = ["-std=c++20", f"-I{source}", f"-I{source / 'Dependencies' / 'nlohmann'}",
                 f"-I{source / 'Dependencies'}", f"-I{EIGEN_INCLUDE}"]  # fmt: skip
        sources = sorted(source.glob("NAM/*.cpp")) + sorted(source.glob("NAM/*/*.cpp"))
        return flags, sources, DRIVERS / "nam_driver.cpp"
    flags = ["-std=c++17", f"-I{source}", f"-I{source / 'modules' / 'Eigen'}",
             f"-I{source / 'modules' / 'json'}", "-DRTNEURAL_USE_EIGEN=1",
             "-DEIGEN_STACK_ALLOCATION_LIMIT=0"]  # fmt: skip
    return flags, [], DRIVERS / "rtneural_driver.cpp"


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(hashlib.sha256(part).digest())
    return h.hexdigest()[:16]


def _compile(compiler: str, flags: list[str], source: Path, output: Path) -> None:
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    done = subprocess.run(
        [compiler, *flags, "-c", str(source), "-o", str(tmp)], capture_output=True, text=True
    )
    if done.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise LeanampError(f"{source}: the compiler failed:\n{done.stderr[-3000:]}")
    os.replace(tmp, output)


def build_driver(
    engine: str,
    native: bool = False,
    progress: Callable[[str], None] | None = None,
    driver: str | None = None,
) -> Path:
    """Path of leanamp's driver for `engine` ('nam' or 'rtneural'), compiled with -O3 (and
    -march=native if `native`); built on first use, then taken from the cache. `driver` names
    another driver source in drivers/ for the engine (rtneural_static_driver.cpp: RTNeural's
    compile-time API)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; one of {ENGINES}")
    compiler = _compiler()
    source = _snapshot(engine)
    engine_flags, engine_sources, default_driver = _build_plan(engine, source)
    driver = DRIVERS / driver if driver else default_driver
    if not driver.is_file():
        raise ValueError(f"no engine driver source {driver}")
    flags = [*engine_flags, "-O3", "-DNDEBUG", *(["-march=native"] if native else [])]
    version = subprocess.run([compiler, "--version"], capture_output=True).stdout
    flag_key = _digest(" ".join(flags).encode(), version, str(source).encode())
    # The drivers' shared header (driver_common.h) is part of every driver's source.
    headers = [h.read_bytes() for h in sorted(DRIVERS.glob("*.h"))]
    key = _digest(flag_key.encode(), driver.read_bytes(), *headers)
    binary = cache_dir() / "bin" / f"{driver.stem}-{'native' if native else 'O3'}-{key}"
    if binary.is_file():
        return binary
    objects_dir = cache_dir() / "obj" / f"{engine}-{flag_key}"
    binary.parent.mkdir(parents=True, exist_ok=True)
    # One build at a time per engine: tests and benchmarks may ask in parallel processes.
    with open(cache_dir() / f"{engine}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if binary.is_file():
            return binary
        report = progress or (lambda message: print(message, file=sys.stderr))
        build = "-O3 -march=native" if native else "-O3"
        report(f"building leanamp's {ENGINE_NAMES[engine]} driver ({build}; first use, may "
               "take minutes)")  # fmt: skip
        objects = [objects_dir / f"{s.relative_to(source).as_posix().replace('/', '_')}.o"
                   for s in engine_sources]  # fmt: skip
        missing = [(s, o) for s, o in zip(engine_sources, objects, strict=True) if not o.is_file()]
        if missing:
            objects_dir.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda so: _compile(compiler, flags, *so), missing))
        tmp = binary.with_name(f".{binary.name}.tmp")
        done = subprocess.run(
            [compiler, *flags, str(driver), *map(str, objects), "-o", str(tmp)],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode != 0:
            tmp.unlink(missing_ok=True)
            raise LeanampError(f"{driver}: the compiler failed:\n{done.stderr[-3000:]}")
        os.replace(tmp, binary)
    return binary


def _parse_info(stdout: str) -> dict[str, str]:
    return dict(line.split(" ", 1) for line in stdout.splitlines() if " " in line)


def _run(command: list[str], model_path: Path) -> dict[str, str]:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise LeanampError(f"{model_path}: {done.stderr.strip() or 'the engine driver failed'}")
    return _parse_info(done.stdout)


def run_engine(
    model_path: str | os.PathLike,
    x: np.ndarray,
    block: int = DEFAULT_BLOCK,
    exact_tanh: bool = False,
    slim: float | None = None,
    native: bool = False,
    engine: str | None = None,
    driver: str | None = None,
) -> EngineRun:
    """Process `x` (time,) or (time, channels; channels 1.. are knobs) through the engine that
    plays `model_path`, in blocks of `block` samples after the plugin's reset. NAM Core uses its
    fast tanh as the plugin does, unless `exact_tanh`; `slim` (0..1) sets a slimmable model's
    size; `driver` another driver source (see `build_driver`)."""
    model_path = Path(model_path)
    engine = engine or engine_for(model_path)
    binary = build_driver(engine, native=native, driver=driver)
    x = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    with tempfile.TemporaryDirectory(prefix="leanamp-engine-") as folder:
        given, produced = Path(folder) / "in.f32", Path(folder) / "out.f32"
        x.tofile(given)
        command = [str(binary), str(model_path), "process", str(given), str(produced),
                   str(x.shape[1]), str(block)]  # fmt: skip
        if engine == "nam":
            command += ["--exact-tanh"] if exact_tanh else []
            command += ["--slim", repr(slim)] if slim is not None else []
        info = _run(command, model_path)
        output = np.fromfile(produced, dtype=np.float32)
    return EngineRun(output, info)


def time_engine(
    model_path: str | os.PathLike,
    seconds: float = 10.0,
    block: int = DEFAULT_BLOCK,
    native: bool = False,
    slim: float | None = None,
    engine: str | None = None,
    rate: float | None = None,
    driver: str | None = None,
) -> dict[str, float]:
    """The engine's real-time factor on `model_path`: thread CPU time and wall time to process
    `seconds` of audio in `block`-sample blocks, each over the audio's duration at `rate` (default:
    the rate the engine reports for the model, else 48 kHz); `driver` as in `build_driver`."""
    model_path = Path(model_path)
    engine = engine or engine_for(model_path)
    binary = build_driver(engine, native=native, driver=driver)
    command = [str(binary), str(model_path), "time", str(seconds),
               str(block)]  # fmt: skip
    if engine == "nam" and slim is not None:
        command += ["--slim", repr(slim)]
    info = _run(command, model_path)
    rate = rate or float(info.get("sample_rate", 48000))
    audio_seconds = int(info["samples"]) / rate
    return {"rtf_cpu": float(info["cpu_seconds"]) / audio_seconds,
            "rtf_wall": float(info["wall_seconds"]) / audio_seconds}  # fmt: skip
