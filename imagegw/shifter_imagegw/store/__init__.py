"""The image catalogue: one interface, two back ends (SQLite default, MongoDB).

Records follow upstream's ``images`` collection (inventory §1.5).  Every
operation a gateway worker process needs to coordinate with the others is
atomic in the store itself: :meth:`ImageStore.exclusive` serialises pull
decisions across processes and :meth:`ImageStore.update` is a compare-and-set
when *expect* is given.
"""
from __future__ import annotations

import abc
import contextlib
from dataclasses import asdict, dataclass, field, fields
from typing import Any

IN_PROGRESS = ("INIT", "PENDING", "PULLING", "EXAMINATION", "CONVERSION", "TRANSFER",
               "HASHING", "EXPIRING")


@dataclass
class ImageRecord:
    """One catalogue entry; ``ident`` is the store's key (Mongo ``_id``)."""

    system: str
    itype: str
    pulltag: str
    status: str = "INIT"
    tag: list[str] = field(default_factory=list)
    id: str | None = None
    format: str = "squashfs"
    userACL: list[int] = field(default_factory=list)
    groupACL: list[int] = field(default_factory=list)
    private: bool | None = None
    ENV: list[str] | None = None
    ENTRY: Any = None
    CMD: Any = None
    WORKDIR: str | None = None
    LABELS: dict[str, str] | None = None
    last_pull: float | None = None
    expiration: float | None = None
    status_message: str | None = None
    last_heartbeat: float | None = None
    bytes_done: int = 0
    bytes_total: int = 0
    attempts: int = 0
    credentialed: bool = False
    filepath: str | None = None
    ident: str | None = None

    def to_doc(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("ident")
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any], ident: str) -> "ImageRecord":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in doc.items() if k in names and k != "ident"}, ident=ident)


FIELD_NAMES = frozenset(f.name for f in fields(ImageRecord)) - {"ident"}


@dataclass(frozen=True)
class MetricRecord:
    """One lookup, as upstream's ``metrics`` collection."""

    user: str | None
    uid: int | None
    system: str
    type: str
    tag: str
    id: str | None
    time: float


class ImageStore(abc.ABC):
    """Catalogue operations; filters are equality on record fields, plus
    ``tag`` (the record's tag list contains it) and ``status_in``."""

    @abc.abstractmethod
    def insert(self, rec: ImageRecord) -> str:
        """Store a new record and return its ident (also set on *rec*)."""

    @abc.abstractmethod
    def get(self, ident: str) -> ImageRecord | None: ...

    @abc.abstractmethod
    def find(self, *, tag: str | None = None, status_in: tuple[str, ...] | None = None,
             **eq: Any) -> list[ImageRecord]:
        """Records matching all filters, oldest first."""

    @abc.abstractmethod
    def update(self, ident: str, values: dict[str, Any],
               expect: dict[str, Any] | None = None) -> bool:
        """Set *values*; when *expect* is given only if those fields still hold
        those values (compare-and-set).  Returns whether a record changed."""

    @abc.abstractmethod
    def delete(self, ident: str) -> None: ...

    @abc.abstractmethod
    def add_tag(self, ident: str, system: str, tag: str) -> None:
        """Move *tag* to this record: no other record of *system* keeps it."""

    @abc.abstractmethod
    def exclusive(self, name: str) -> contextlib.AbstractContextManager[None]:
        """A lock shared by every process using this catalogue."""

    @abc.abstractmethod
    def add_metric(self, metric: MetricRecord) -> None: ...

    @abc.abstractmethod
    def metrics(self, system: str, limit: int) -> list[MetricRecord]:
        """The last *limit* metrics of *system*, oldest first."""

    def close(self) -> None:
        """Release connections."""

    @staticmethod
    def check_fields(values: dict[str, Any]) -> None:
        bad = set(values) - FIELD_NAMES
        if bad:
            raise KeyError(f"unknown image record field(s): {', '.join(sorted(bad))}")


def open_store(config: Any) -> ImageStore:
    """MongoDB when ``MongoDBURI`` is set, else the SQLite file ``CatalogPath``."""
    if config.mongo_uri:
        from .mongo import MongoStore
        return MongoStore.connect(config.mongo_uri, config.mongo_db)
    from .sqlite import SQLiteStore
    return SQLiteStore(config.catalog_path)

