"""The sweep's results table: one SQLite file, one row per run with its config, metrics, artefacts.

Searchable columns (device, method, size, status, test ESR, real-time factor...) sit beside the
full JSON of the run's config, metrics and artefact paths, so both a quick SQL query and a complete
reconstruction work from the one file. SQLite commits are atomic: a killed sweep leaves a readable
table.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from leanamp.errors import LeanampError

TABLE_FILE = "results.sqlite"
RESULT_FILE = "result.json"  # one run's metrics and artefacts, in its run folder

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    device TEXT NOT NULL,
    architecture TEXT NOT NULL,
    size INTEGER NOT NULL,
    method TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,          -- pending, running, done, failed
    test_esr REAL,
    rtf REAL,
    parameters INTEGER,
    nonzero_parameters INTEGER,
    run_dir TEXT NOT NULL,         -- relative to the sweep folder
    config TEXT NOT NULL,          -- JSON: the run's RunSpec
    metrics TEXT,                  -- JSON
    artefacts TEXT,                -- JSON: paths relative to run_dir
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started REAL,
    finished REAL,
    seconds REAL
);
CREATE TABLE IF NOT EXISTS sweep (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class ResultsTable:
    """The runs of one sweep folder."""

    def __init__(self, sweep_dir: str | os.PathLike):
        self.sweep_dir = Path(sweep_dir)
        self.path = self.sweep_dir / TABLE_FILE
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        try:
            con = sqlite3.connect(self.path, timeout=30)
        except sqlite3.Error as e:
            raise LeanampError(f"{self.path}: cannot open the results table ({e})") from None
        con.row_factory = sqlite3.Row
        return con

    def set_info(self, **values) -> None:
        with self._connect() as con:
            con.executemany(
                "INSERT OR REPLACE INTO sweep (key, value) VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in values.items()],
            )

    def info(self) -> dict:
        with self._connect() as con:
            return {r["key"]: json.loads(r["value"]) for r in con.execute("SELECT * FROM sweep")}

    def register(self, run_id: str, spec: dict, name: str, run_dir: str) -> None:
        """Add a run as pending unless the table already knows it."""
        device = spec["device"]["name"]
        with self._connect() as con:
            con.execute(
                "INSERT OR IGNORE INTO runs (run_id, name, device, architecture, size, method, "
                "seed, status, run_dir, config) VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
                (run_id, name, device, spec["architecture"], spec["size"], spec["method"],
                 spec["seed"], run_dir, json.dumps(spec)),
            )

    def mark_running(self, run_id: str) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='running', attempts=attempts+1, started=?, error=NULL "
                "WHERE run_id=?",
                (time.time(), run_id),
            )

    def mark_done(self, run_id: str, result: dict) -> None:
        metrics = result.get("metrics", {})
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='done', test_esr=?, rtf=?, parameters=?, "
                "nonzero_parameters=?, metrics=?, artefacts=?, error=NULL, finished=?, seconds=? "
                "WHERE run_id=?",
                (metrics.get("test_esr"), metrics.get("rtf"), metrics.get("parameters"),
                 metrics.get("nonzero_parameters"), json.dumps(metrics),
                 json.dumps(result.get("artefacts", {})), time.time(), result.get("seconds"),
                 run_id),
            )

    def mark_failed(self, run_id: str, error: str) -> None:
        with self._connect() as con:
            con.execute(
                "UPDATE runs SET status='failed', error=?, finished=? WHERE run_id=?",
                (error, time.time(), run_id),
            )

    def rows(self, status: str | None = None) -> list[dict]:
        """Every run (or those with `status`) with its JSON columns decoded, in sweep order."""
        query = "SELECT * FROM runs" + (" WHERE status=?" if status else "") + " ORDER BY rowid"
        with self._connect() as con:
            rows = [dict(r) for r in con.execute(query, (status,) if status else ())]
        for row in rows:
            for key in ("config", "metrics", "artefacts"):
                row[key] = json.loads(row[key]) if row[key] else {}
        return rows

    def get(self, run_id: str) -> dict | None:
        return next((r for r in self.rows() if r["run_id"] == run_id), None)


def open_results(sweep_dir: str | os.PathLike) -> ResultsTable:
    """The results table of an existing sweep folder."""
    path = Path(sweep_dir) / TABLE_FILE
    if not path.exists():
        raise LeanampError(f"{sweep_dir}: no {TABLE_FILE} here; is this a sweep folder?")
    return ResultsTable(sweep_dir)
