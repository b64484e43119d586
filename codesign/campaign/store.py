"""Durable, append-only campaign results: one SQLite file in WAL mode.

Why SQLite: one file, atomic transactions (a SIGKILL mid-write leaves the last committed state, never a torn one),
a primary key that makes re-inserting a stored fault a no-op, concurrent readers while a campaign writes, and it is
in the standard library. Parquet shards would need a manifest and our own atomic-commit protocol for the same.

The store is bound to one campaign by a key (design fingerprint + data + cost + fault model); opening it for another
campaign is a user error, so results of different designs never mix.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np

from codesign.errors import CodesignError

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS results (
    fault_id INTEGER PRIMARY KEY,
    bits TEXT NOT NULL,           -- space-separated BitSpace indices that flipped
    n_drawn INTEGER NOT NULL,     -- bits the upset hit, protected ones included
    delta_cost REAL NOT NULL,
    faulty_cost REAL NOT NULL,
    changed_rows INTEGER NOT NULL
);
"""

COLUMNS = ("fault_id", "bits", "n_drawn", "delta_cost", "faulty_cost", "changed_rows")


class Store:
    def __init__(self, path: str | Path, key: dict, readonly: bool = False):
        self.path = Path(path)
        self.key = json.dumps(key, sort_keys=True)
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=60)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self.db = sqlite3.connect(self.path, timeout=60)
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: a committed transaction survives a kill
                self.db.executescript(SCHEMA)
            row = self.db.execute("SELECT value FROM meta WHERE key='campaign'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise CodesignError(f"unreadable result store {self.path}: {exc}") from None
        except OSError as exc:
            raise CodesignError(f"cannot open result store {self.path}: {exc.strerror or exc}") from None
        if row is None and readonly:
            raise CodesignError(f"{self.path} is not a codesign result store")
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('campaign', ?)", (self.key,))
        elif row[0] != self.key:
            theirs = json.loads(row[0])
            raise CodesignError(
                f"result store {self.path} belongs to another campaign (design {theirs.get('design')!r}, "
                f"hash {str(theirs.get('design_hash'))[:12]}…): use another --out or remove it")

    def done_ids(self) -> set[int]:
        return {r[0] for r in self.db.execute("SELECT fault_id FROM results")}

    def add(self, rows: list[tuple]) -> None:
        """Append results (tuples in COLUMNS order) in one transaction; ids already stored are left as they are."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO results VALUES (?, ?, ?, ?, ?, ?)", rows)

    def table(self) -> dict[str, np.ndarray]:
        rows = self.db.execute(f"SELECT {', '.join(COLUMNS)} FROM results ORDER BY fault_id").fetchall()
        cols = list(zip(*rows)) if rows else [[] for _ in COLUMNS]
        out = {}
        for name, values in zip(COLUMNS, cols):
            out[name] = np.array(values, dtype=object if name == "bits" else None)
        for name in ("fault_id", "n_drawn", "changed_rows"):
            out[name] = out[name].astype(np.int64)
        out["delta_cost"] = out["delta_cost"].astype(np.float64)
        out["faulty_cost"] = out["faulty_cost"].astype(np.float64)
        return out

    def __len__(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM results").fetchone()[0]

    def close(self) -> None:
        self.db.close()
