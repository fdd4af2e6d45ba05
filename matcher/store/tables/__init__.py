"""SQLAlchemy 2 tables. The database is the source of truth; FAISS files are derived.

Vocabulary (DESIGN.md): a **record** is a child (registered by a shelter) or a report
(filed by a family); **media** is one uploaded photo or video, its bytes stored once by
sha256 in the blob store; a **face** is one detection in a media; an **embedding** is one
face's vector for one model pack. One module per concern; importing this package registers
every table on ``Base.metadata`` (the migrations and ``create_all`` read it).
"""

from matcher.store.base import Base, utcnow
from matcher.store.tables.accounts import RateWindow, Token, User, WebSessionRow
from matcher.store.tables.audit import AuditChain, AuditEvent, Erasure
from matcher.store.tables.index import IndexGeneration
from matcher.store.tables.jobs import JobRow
from matcher.store.tables.records import Embedding, Face, Media, Record
from matcher.store.tables.review import CalibrationRow, Candidate, CohortRow, Decision
from matcher.store.tables.sightings import Sighting, SightingDecision, SightingFace, SightingSource

__all__ = [
    "AuditChain",
    "AuditEvent",
    "Base",
    "CalibrationRow",
    "Candidate",
    "CohortRow",
    "Decision",
    "Embedding",
    "Erasure",
    "Face",
    "IndexGeneration",
    "JobRow",
    "Media",
    "RateWindow",
    "Record",
    "Sighting",
    "SightingDecision",
    "SightingFace",
    "SightingSource",
    "Token",
    "User",
    "WebSessionRow",
    "utcnow",
]
