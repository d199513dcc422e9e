"""MongoDB catalogue (pymongo), used when ``MongoDBURI`` is set.

Collections ``images`` and ``metrics`` as upstream (inventory §1.5) plus
``locks`` (leases with an expiry, so a crashed holder cannot block forever).
"""
from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any, Iterator

from . import ImageRecord, ImageStore, MetricRecord

LOCK_LEASE_S = 30.0


class MongoStore(ImageStore):
    """Catalogue in a MongoDB database (``db`` is a pymongo Database)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.images = db["images"]
        self.metrics_coll = db["metrics"]
        self.locks = db["locks"]
        self.images.create_index([("system", 1), ("status", 1)])
        self.images.create_index([("system", 1), ("tag", 1)])

    @classmethod
    def connect(cls, uri: str, database: str) -> "MongoStore":
        import pymongo
        client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, connect=False)
        return cls(client[database])

    @staticmethod
    def _oid(ident: str) -> Any:
        from bson import ObjectId
        return ObjectId(ident)

    @staticmethod
    def _rec(doc: dict[str, Any]) -> ImageRecord:
        return ImageRecord.from_doc(doc, str(doc["_id"]))

    def insert(self, rec: ImageRecord) -> str:
        doc = rec.to_doc()
        tags = doc.pop("tag")
        doc["tag"] = []
        rec.ident = str(self.images.insert_one(doc).inserted_id)
        for tag in tags:
            self.add_tag(rec.ident, rec.system, tag)
        return rec.ident

    def get(self, ident: str) -> ImageRecord | None:
        doc = self.images.find_one({"_id": self._oid(ident)})
        return self._rec(doc) if doc else None

    def find(self, *, tag: str | None = None, status_in: tuple[str, ...] | None = None,
             **eq: Any) -> list[ImageRecord]:
        self.check_fields(eq)
        query: dict[str, Any] = dict(eq)
        if tag is not None:
            query["tag"] = tag
        if status_in is not None:
            query["status"] = {"$in": list(status_in)}
        return [self._rec(d) for d in self.images.find(query).sort("_id", 1)]

    def update(self, ident: str, values: dict[str, Any],
               expect: dict[str, Any] | None = None) -> bool:
        self.check_fields(values)
        query = {"_id": self._oid(ident), **(expect or {})}
        tags = values.get("tag")
        values = {k: v for k, v in values.items() if k != "tag"}
        if values:
            if self.images.update_one(query, {"$set": values}).matched_count == 0:
                return False
        elif self.images.count_documents(query, limit=1) == 0:
            return False
        if tags is not None:
            rec = self.get(ident)
            self.images.update_one({"_id": self._oid(ident)}, {"$set": {"tag": []}})
            for tag in tags:
                self.add_tag(ident, rec.system, tag)
        return True

    def delete(self, ident: str) -> None:
        self.images.delete_one({"_id": self._oid(ident)})

    def add_tag(self, ident: str, system: str, tag: str) -> None:
        self.images.update_many({"system": system, "tag": tag}, {"$pull": {"tag": tag}})
        self.images.update_one({"_id": self._oid(ident)}, {"$addToSet": {"tag": tag}})

    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        from pymongo.errors import DuplicateKeyError

        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            token = uuid.uuid4().hex
            while True:
                now = time.time()
                try:
                    self.locks.insert_one({"_id": name, "owner": token,
                                           "expires": now + LOCK_LEASE_S})
                    break
                except DuplicateKeyError:
                    self.locks.delete_one({"_id": name, "expires": {"$lt": now}})
                    time.sleep(0.005)
            try:
                yield
            finally:
                self.locks.delete_one({"_id": name, "owner": token})
        return hold()

    def add_metric(self, metric: MetricRecord) -> None:
        self.metrics_coll.insert_one(dict(metric.__dict__))

    def metrics(self, system: str, limit: int) -> list[MetricRecord]:
        docs = list(self.metrics_coll.find({"system": system}, {"_id": 0})
                    .sort("_id", -1).limit(max(limit, 0)))
        return [MetricRecord(**d) for d in reversed(docs)] if limit > 0 else []
