"""Embedded SQLite catalogue (WAL), safe for several gunicorn processes.

Each record is a JSON document plus indexed columns; tags live in their own
table whose primary key ``(system, tag)`` makes "one record per tag" a
constraint.  ``BEGIN IMMEDIATE`` gives cross-process mutual exclusion.
"""
from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from typing import Any, Iterator

from . import ImageRecord, ImageStore, MetricRecord

_COLUMNS = ("system", "itype", "pulltag", "status", "id")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    ident INTEGER PRIMARY KEY AUTOINCREMENT,
    system TEXT NOT NULL, itype TEXT NOT NULL, pulltag TEXT NOT NULL,
    status TEXT NOT NULL, id TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS images_status ON images(system, status);
CREATE INDEX IF NOT EXISTS images_pulltag ON images(system, itype, pulltag);
CREATE INDEX IF NOT EXISTS images_id ON images(id);
CREATE TABLE IF NOT EXISTS tags (
    system TEXT NOT NULL, tag TEXT NOT NULL, ident INTEGER NOT NULL, UNIQUE(system, tag));
CREATE INDEX IF NOT EXISTS tags_ident ON tags(ident);
CREATE TABLE IF NOT EXISTS metrics (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, system TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_system ON metrics(system, seq);
"""


class SQLiteStore(ImageStore):
    """Catalogue in one SQLite file; one connection per thread and process."""

    def __init__(self, path: str, busy_timeout: float = 30.0) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, mode=0o700, exist_ok=True)
        self._conn().executescript(_SCHEMA)

    # -- connections and transactions -------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            db = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            local.db, local.pid, local.depth = db, os.getpid(), 0
        return local.db

    @contextlib.contextmanager
    def _txn(self) -> Iterator[sqlite3.Connection]:
        db = self._conn()
        local = self._local
        if local.depth == 0:
            db.execute("BEGIN IMMEDIATE")
        local.depth += 1
        try:
            yield db
        except BaseException:
            local.depth -= 1
            if local.depth == 0:
                db.execute("ROLLBACK")
            raise
        local.depth -= 1
        if local.depth == 0:
            db.execute("COMMIT")

    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            with self._txn():
                yield
        return hold()

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None and self._local.pid == os.getpid():
            db.close()
            self._local.pid = None

    # -- records -------------------------------------------------------------------
    def _row_to_rec(self, db: sqlite3.Connection, ident: int, doc: str) -> ImageRecord:
        rec = ImageRecord.from_doc(json.loads(doc), str(ident))
        rec.tag = [r[0] for r in db.execute(
            "SELECT tag FROM tags WHERE ident=? ORDER BY rowid", (ident,))]
        return rec

    def insert(self, rec: ImageRecord) -> str:
        doc = rec.to_doc()
        tags = doc.pop("tag")
        with self._txn() as db:
            cur = db.execute(
                "INSERT INTO images(system, itype, pulltag, status, id, doc) VALUES (?,?,?,?,?,?)",
                (rec.system, rec.itype, rec.pulltag, rec.status, rec.id, json.dumps(doc)))
            rec.ident = str(cur.lastrowid)
            for tag in tags:
                self.add_tag(rec.ident, rec.system, tag)
        return rec.ident

    def get(self, ident: str) -> ImageRecord | None:
        db = self._conn()
        row = db.execute("SELECT ident, doc FROM images WHERE ident=?", (int(ident),)).fetchone()
        return self._row_to_rec(db, *row) if row else None

    def find(self, *, tag: str | None = None, status_in: tuple[str, ...] | None = None,
             **eq: Any) -> list[ImageRecord]:
        self.check_fields(eq)
        where, args = [], []
        for key, value in eq.items():
            col = key if key in _COLUMNS else f"json_extract(doc, '$.{key}')"
            if value is None:
                where.append(f"{col} IS NULL")
            else:
                where.append(f"{col} = ?")
                args.append(json.dumps(value) if isinstance(value, (list, dict)) else value)
        if status_in is not None:
            where.append(f"status IN ({','.join('?' * len(status_in))})" if status_in else "0")
            args.extend(status_in)
        if tag is not None:
            where.append("ident IN (SELECT ident FROM tags WHERE tag = ?)")
            args.append(tag)
        sql = "SELECT ident, doc FROM images"
        if where:
            sql += " WHERE " + " AND ".join(where)
        db = self._conn()
        return [self._row_to_rec(db, *row) for row in db.execute(sql + " ORDER BY ident", args)]

    def update(self, ident: str, values: dict[str, Any],
               expect: dict[str, Any] | None = None) -> bool:
        self.check_fields(values)
        with self._txn() as db:
            row = db.execute("SELECT doc FROM images WHERE ident=?", (int(ident),)).fetchone()
            if row is None:
                return False
            doc = json.loads(row[0])
            if expect:
                current = self.get(ident)
                if any(getattr(current, k) != v for k, v in expect.items()):
                    return False
            tags = values.get("tag")
            doc.update({k: v for k, v in values.items() if k != "tag"})
            cols = {c: doc.get(c) for c in _COLUMNS}
            db.execute("UPDATE images SET system=?, itype=?, pulltag=?, status=?, id=?, doc=? "
                       "WHERE ident=?", (*cols.values(), json.dumps(doc), int(ident)))
            if tags is not None:
                db.execute("DELETE FROM tags WHERE ident=?", (int(ident),))
                for tag in tags:
                    self.add_tag(ident, doc["system"], tag)
        return True

    def delete(self, ident: str) -> None:
        with self._txn() as db:
            db.execute("DELETE FROM tags WHERE ident=?", (int(ident),))
            db.execute("DELETE FROM images WHERE ident=?", (int(ident),))

    def add_tag(self, ident: str, system: str, tag: str) -> None:
        with self._txn() as db:
            db.execute("DELETE FROM tags WHERE system=? AND tag=?", (system, tag))
            db.execute("INSERT INTO tags(system, tag, ident) VALUES (?,?,?)",
                       (system, tag, int(ident)))

    # -- metrics -------------------------------------------------------------------
    def add_metric(self, metric: MetricRecord) -> None:
        with self._txn() as db:
            db.execute("INSERT INTO metrics(system, doc) VALUES (?,?)",
                       (metric.system, json.dumps(metric.__dict__)))

    def metrics(self, system: str, limit: int) -> list[MetricRecord]:
        rows = self._conn().execute(
            "SELECT doc FROM (SELECT seq, doc FROM metrics WHERE system=? ORDER BY seq DESC "
            "LIMIT ?) ORDER BY seq", (system, max(limit, 0))).fetchall()
        return [MetricRecord(**json.loads(r[0])) for r in rows]
