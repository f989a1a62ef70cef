"""`leanamp report`: one HTML page for a sweep folder or a single run.

The page holds a table of all runs, a table like Table I of Südholt et al. 2022 (unpruned versus
pruned), loss curves, mask-search curves, the test-ESR versus real-time-factor Pareto front,
target-versus-model spectra (Fig. 5), settling after an impulse (Fig. 7), and audio players for
input, target and every model's output on the test clips.

Figures are embedded in the page (PNG data URIs); audio players link to the WAV files of the runs
by paths relative to the page, so the page works wherever the folder is copied, without a server.
"""

from __future__ import annotations

import base64
import datetime
import html
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import leanamp
from leanamp.audio.io import read_audio
from leanamp.errors import LeanampError
from leanamp.files import write_text_atomic
from leanamp.formats.native import load_model
from leanamp.losses import esr_db
from leanamp.plots import plot_loss_curves
from leanamp.plots.figures import plot_pareto, plot_spectra
from leanamp.plots.pruning import plot_impulse_responses, plot_pruning_curve
from leanamp.prune.settling import impulse_response
from leanamp.results import RESULT_FILE, TABLE_FILE, open_results

REPORT_FILE = "report.html"


@dataclass
class ReportRun:
    """One run as the report sees it, whatever folder it came from."""

    name: str
    device: str
    method: str
    architecture: str
    size: int | None
    seed: int | None
    status: str
    run_dir: Path
    sample_rate: int | None
    metrics: dict = field(default_factory=dict)
    artefacts: dict = field(default_factory=dict)
    error: str | None = None

    def path(self, relative: str | None) -> Path | None:
        if not relative:
            return None
        p = Path(relative)
        return p if p.is_absolute() else self.run_dir / p

    @property
    def done(self) -> bool:
        return self.status == "done"


def _from_result(result: dict, run_dir: Path, status: str | None = None, error=None) -> ReportRun:
    config = result.get("config", {})
    return ReportRun(
        name=result.get("name", run_dir.name),
        device=config.get("device", {}).get("name", "device"),
        method=config.get("method", "train"),
        architecture=config.get("architecture", ""),
        size=config.get("size"),
        seed=config.get("seed"),
        status=status or result.get("status", "done"),
        run_dir=run_dir,
        sample_rate=config.get("sample_rate"),
        metrics=result.get("metrics") or {},
        artefacts=result.get("artefacts") or {},
        error=error,
    )


def _from_training_summary(summary: dict, out_dir: Path) -> ReportRun:
    """A `leanamp train` / `leanamp demo` output folder (summary.json) as one run."""
    clips: dict[str, dict] = {}
    for audio in summary.get("audio", []):
        stem = Path(audio).stem
        clip, _, kind = stem.rpartition("_")
        clips.setdefault(clip, {"clip": clip})[kind] = audio
    architecture = summary.get("architecture", {})
    history = out_dir / "run" / "history.json"
    return ReportRun(
        name=Path(summary.get("model", "model")).stem,
        device=out_dir.name,
        method="train",
        architecture=architecture.get("architecture", ""),
        size=architecture.get("hidden_size"),
        seed=summary.get("train_config", {}).get("seed"),
        status="done",
        run_dir=out_dir,
        sample_rate=None,
        metrics={
            "test_esr": summary.get("test_esr"),
            "parameters": summary.get("parameters"),
            "nonzero_parameters": summary.get("parameters"),
            "hidden_size": architecture.get("hidden_size"),
            "epochs": summary.get("epochs"),
            "test_esr_by_width": summary.get("test_esr_by_width"),
        },
        artefacts={
            "model": summary.get("model"),
            "history": str(history) if history.exists() else None,
            "audio": list(clips.values()),
        },
    )


def load_report_runs(path: str | os.PathLike) -> tuple[str, list[ReportRun]]:
    """The title and runs of a sweep folder, a sweep run folder, or a training output folder."""

    path = Path(path)
    if not path.is_dir():
        raise LeanampError(f"{path}: no such folder; give a sweep folder or a run folder")
    if (path / TABLE_FILE).exists():
        table = open_results(path)
        info = table.info()
        runs = []
        for row in table.rows():
            result = {"name": row["name"], "config": row["config"], "metrics": row["metrics"],
                      "artefacts": row["artefacts"]}
            runs.append(_from_result(result, path / row["run_dir"], row["status"], row["error"]))
        return f"Sweep {info.get('name', path.name)}", runs
    if (path / RESULT_FILE).exists():
        result = json.loads((path / RESULT_FILE).read_text())
        return f"Run {result.get('name', path.name)}", [_from_result(result, path)]
    if (path / "summary.json").exists():
        summary = json.loads((path / "summary.json").read_text())
        return f"Training run {path.name}", [_from_training_summary(summary, path)]
    raise LeanampError(
        f"{path}: neither a sweep folder ({TABLE_FILE}) nor a run folder ({RESULT_FILE} or "
        "summary.json); point `leanamp report` at the folder `leanamp sweep`/`train` wrote"
    )


# --- HTML helpers ---------------------------------------------------------------------------------

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; } td.text, th.text { text-align: left; }
tr.failed td { background: #fff0f0; }
img { max-width: 100%; } figure { margin: 1em 0; }
figcaption { font-size: 0.85em; color: #555; }
.audio-row { display: flex; flex-wrap: wrap; gap: 1em; margin: 0.5em 0 1.5em; }
.audio-row div { font-size: 0.85em; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def _num(value, digits: int = 4) -> str:
    if value is None:
        return "–"
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}g}"


def _percent(value) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _table(headers: list[str], rows: list[list], text_columns: int = 1,
           row_classes: list[str] | None = None) -> str:
    def cell(tag, i, v):
        cls = ' class="text"' if i < text_columns else ""
        return f"<{tag}{cls}>{_e(v)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(headers))
    body = []
    for r, row in enumerate(rows):
        cls = f' class="{row_classes[r]}"' if row_classes and row_classes[r] else ""
        body.append(f"<tr{cls}>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(path: Path, caption: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>")


def _relative_url(target: Path, page_dir: Path) -> str:
    return quote(Path(os.path.relpath(target.resolve(), page_dir.resolve())).as_posix())


# --- sections -------------------------------------------------------------------------------------


def _runs_section(runs: list[ReportRun]) -> str:
    engine = any(r.metrics.get("engine_rtf") for r in runs)
    headers = ["run", "status", "test ESR [%]", "ESR [dB]", "parameters (non-zero)",
               "effective hidden size", "RTF", *(["RTF in plugin engine"] if engine else []),
               "settling [ms]", "epochs", "error"]  # fmt: skip
    rows, classes = [], []
    for r in runs:
        m = r.metrics
        in_engine = [f"{_num(m.get('engine_rtf'), 3)} {m.get('engine', '')}".strip()]
        rows.append([
            r.name, r.status, _percent(m.get("test_esr")), _num(m.get("test_esr_db"), 3),
            _num(m.get("nonzero_parameters")), _num(m.get("effective_hidden_size")),
            _num(m.get("rtf"), 3), *(in_engine if engine else []), _num(m.get("settling_ms"), 3),
            _num(m.get("epochs")), r.error or "",
        ])
        classes.append("failed" if r.status == "failed" else "")
    return "<h2>All runs</h2>" + _table(headers, rows, text_columns=2, row_classes=classes)


def _table_one_section(runs: list[ReportRun]) -> str:
    """Table I of the paper: per pruned run, the model before and after pruning."""
    pruned = [r for r in runs if r.done and "test_esr_unpruned" in r.metrics]
    if not pruned:
        return ""
    headers = ["device", "hidden size unpruned", "hidden size pruned", "parameters unpruned",
               "parameters pruned", "pruned weights [%]", "test ESR unpruned [%]",
               "test ESR pruned [%]", "RTF unpruned", "RTF pruned", "RTF from"]
    rows = []
    for r in pruned:
        m = r.metrics
        rows.append([
            r.device, _num(m.get("hidden_size_unpruned", r.size)),
            _num(m.get("effective_hidden_size")), _num(m.get("parameters_unpruned")),
            _num(m.get("nonzero_parameters")), f"{100 * m.get('sparsity', 0.0):.1f}",
            _percent(m.get("test_esr_unpruned")), _percent(m.get("test_esr")),
            _num(m.get("rtf_unpruned"), 3), _num(m.get("rtf"), 3), m.get("rtf_method", ""),
        ])
    return ("<h2>Pruning results (as in Table I)</h2>"
            "<p>Parameters pruned counts the non-zero parameters of the compressed model.</p>"
            + _table(headers, rows))


def _loss_section(runs: list[ReportRun], work: Path) -> str:
    parts = []
    for device in dict.fromkeys(r.device for r in runs):
        histories = {}
        for r in runs:
            path = r.path(r.artefacts.get("history"))
            if r.device == device and r.done and path is not None and path.exists():
                records = json.loads(path.read_text())
                if records:
                    histories[r.name] = records
        if histories:
            png = plot_loss_curves(histories, work / f"loss_{len(parts)}.png", title=device)
            parts.append(_image(png, f"Training and validation loss, {device}"))
    return "<h2>Loss curves</h2>" + "".join(parts) if parts else ""


def _pruning_section(runs: list[ReportRun], work: Path) -> str:
    parts = []
    for r in runs:
        path = r.path(r.artefacts.get("search_records"))
        if r.done and path is not None and path.exists():
            records = json.loads(path.read_text())
            png = plot_pruning_curve(records, work / f"pruning_{len(parts)}.png", title=r.name,
                                     chosen_level=r.metrics.get("chosen_level"))
            parts.append(_image(png, f"Mask search of {r.name}: validation loss and effective "
                                     "hidden size per pruning level"))
    return "<h2>Pruning curves</h2>" + "".join(parts) if parts else ""


def _by_width(run: ReportRun, key: str = "rtf_by_width") -> list[tuple[int, float, float | None]]:
    """(width, test ESR, RTF or None) of a slimmable run, ascending; empty for other runs.
    `key` "engine_rtf_by_width" gives the RTFs in the plugin's engine."""
    esr = run.metrics.get("test_esr_by_width") or {}
    rtf = run.metrics.get(key) or {}
    return sorted((int(w), value, rtf.get(w)) for w, value in esr.items())


def _widths_section(runs: list[ReportRun]) -> str:
    """Per slimmable run: the one model's test ESR and real-time factor at every width."""
    parts = []
    for r in runs:
        engine = {w: t for w, _, t in _by_width(r, "engine_rtf_by_width")}
        headers = ["width", "test ESR [%]", "ESR [dB]", "RTF",
                   *(["RTF in plugin engine"] if any(engine.values()) else [])]  # fmt: skip
        rows = [[w, _percent(e), _num(esr_db(e), 3), _num(t, 3),
                 *([_num(engine.get(w), 3)] if any(engine.values()) else [])]
                for w, e, t in _by_width(r)]  # fmt: skip
        if r.done and rows:
            parts.append(f"<h3>{_e(r.name)}</h3>" + _table(headers, rows))
    if not parts:
        return ""
    return ("<h2>Slimmable models by width</h2><p>One model, run truncated to each width "
            "(channels of its first layer array).</p>" + "".join(parts))


def _pareto_points(runs: list[ReportRun], engine: bool = False) -> list[dict]:
    """Pareto points of the finished runs, with leanamp's RTF or (`engine`) the RTF in the
    plugin's engine; a slimmable model is one point per width."""
    rtf_key, widths_key = ("engine_rtf", "engine_rtf_by_width") if engine else (
        "rtf", "rtf_by_width")  # fmt: skip
    points = []
    for r in runs:
        widths = [(w, e, t) for w, e, t in _by_width(r, widths_key) if t]
        if r.done and widths:
            points += [
                {"label": f"{r.name} w{w}", "rtf": t, "test_esr": e,
                 "group": f"{r.method} widths ({r.architecture})"}
                for w, e, t in widths
            ]  # fmt: skip
        elif r.done and r.metrics.get(rtf_key) and r.metrics.get("test_esr"):
            points.append({"label": r.name, "rtf": r.metrics[rtf_key],
                           "test_esr": r.metrics["test_esr"],
                           "group": f"{r.method} ({r.architecture})"})  # fmt: skip
    return points


def _pareto_section(runs: list[ReportRun], work: Path) -> str:
    points = _pareto_points(runs)
    if not points:
        return ""
    png = plot_pareto(points, work / "pareto.png")
    html = "<h2>Accuracy versus speed</h2>" + _image(
        png, "Test ESR against real-time factor; the dashed line is the Pareto front")
    in_engine = _pareto_points(runs, engine=True)
    if in_engine:
        png = plot_pareto(in_engine, work / "pareto_engine.png",
                          title="Accuracy versus speed in the plugin's engine")  # fmt: skip
        html += _image(png, "The same runs with the real-time factor in the engine of the "
                            "plugin that plays them (NAM Core for .nam, RTNeural for AIDA-X)")
    return html


def _clip_outputs(runs: list[ReportRun], device: str) -> dict[str, list[tuple[ReportRun, dict]]]:
    """{clip name: [(run, audio entry)]} for the finished runs of a device."""
    clips: dict[str, list] = {}
    for r in runs:
        if r.device == device and r.done:
            for entry in r.artefacts.get("audio", []):
                clips.setdefault(entry["clip"], []).append((r, entry))
    return clips


def _spectra_section(runs: list[ReportRun], work: Path) -> str:
    parts = []
    for device in dict.fromkeys(r.device for r in runs):
        for clip, entries in _clip_outputs(runs, device).items():
            first_run, first = entries[0]
            target_path = first_run.path(first.get("target"))
            if target_path is None or not target_path.exists():
                continue
            target = read_audio(target_path)
            outputs = {}
            for run, entry in entries:
                path = run.path(entry.get("model"))
                if path is not None and path.exists():
                    outputs[run.name] = read_audio(path).samples[:, 0]
            png = plot_spectra(target.samples[:, 0], outputs, target.sample_rate,
                               work / f"spectra_{len(parts)}.png", title=f"{device}: {clip}")
            parts.append(_image(png, f"Spectra of the target and the models, {device}, {clip}"))
    return "<h2>Spectra</h2>" + "".join(parts) if parts else ""


def _settling_section(runs: list[ReportRun], work: Path) -> str:
    parts = []
    for device in dict.fromkeys(r.device for r in runs):
        responses = {}
        for r in runs:
            path = r.path(r.artefacts.get("model"))
            if r.device != device or not r.done or path is None or not path.exists():
                continue
            model, metadata = load_model(path)
            rate = r.sample_rate or metadata.get("sample_rate")
            if rate:
                responses[r.name] = impulse_response(model, float(rate))
        if responses:
            png = plot_impulse_responses(responses, work / f"settling_{len(parts)}.png",
                                         title=f"Settling after an impulse, {device}")
            parts.append(_image(png, f"Deviation from steady state after an impulse, {device}"))
    return "<h2>Settling time</h2>" + "".join(parts) if parts else ""


def _audio_section(runs: list[ReportRun], page_dir: Path) -> str:
    def player(label: str, run: ReportRun, relative: str | None) -> str:
        path = run.path(relative)
        if path is None or not path.exists():
            return ""
        return (f'<div>{_e(label)}<br><audio controls preload="none" '
                f'src="{_e(_relative_url(path, page_dir))}"></audio></div>')

    parts = []
    for device in dict.fromkeys(r.device for r in runs):
        for clip, entries in _clip_outputs(runs, device).items():
            first_run, first = entries[0]
            players = [player("input", first_run, first.get("input")),
                       player("target", first_run, first.get("target"))]
            players += [player(run.name, run, entry.get("model")) for run, entry in entries]
            parts.append(f"<h3>{_e(device)}: {_e(clip)}</h3>"
                         f'<div class="audio-row">{"".join(players)}</div>')
    return "<h2>Listen</h2>" + "".join(parts) if parts else ""


def build_report(path: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the HTML report of a sweep or run folder; returns the page's path
    (`<folder>/report.html` unless `out` is given)."""

    title, runs = load_report_runs(path)
    out = Path(out) if out is not None else Path(path) / REPORT_FILE
    done = sum(r.done for r in runs)
    failed = sum(r.status == "failed" for r in runs)
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    with tempfile.TemporaryDirectory(prefix="leanamp-report-") as tmp:
        work = Path(tmp)
        sections = [
            _runs_section(runs),
            _table_one_section(runs),
            _widths_section(runs),
            _loss_section(runs, work),
            _pruning_section(runs, work),
            _pareto_section(runs, work),
            _spectra_section(runs, work),
            _settling_section(runs, work),
            _audio_section(runs, out.parent),
        ]
    page = (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{_e(title)}</h1><p>{len(runs)} runs: {done} done, {failed} failed, "
        f"{len(runs) - done - failed} pending or running. Written {date} by leanamp "
        f"{_e(leanamp.__version__)}.</p>{''.join(s for s in sections if s)}</body></html>\n"
    )
    write_text_atomic(out, page)
    return out
