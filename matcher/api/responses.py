"""What the routes answer, as pydantic models (the HTTP edge only): they document the JSON in
the OpenAPI schema and check its shape on the way out.

The use cases build these answers as plain dicts; a model here names their fields and keeps
them as they are: fields a dict leaves out stay out (the routes answer with
``response_model_exclude_unset``), and keys a model does not name pass through unchanged
(``extra="allow"``), so a new field in a use case is never dropped silently. Numbers that may
be whole or not are ``Any``, so ``1`` is not rewritten as ``1.0``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

EXACT = {"response_model_exclude_unset": True}  # the routes' keyword: answer the fields the use case set


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# ---- records ----
class MediaSummary(Out):
    id: int
    kind: str
    original_name: str | None = None
    faces: int = Field(description="faces found in it")
    received_at: str
    age_at_photo: Any = Field(None, description="the child's age in it (years), as given with the upload")


class RecordOut(Out):
    """A record as its reader may see it: a family its own reports, staff the children."""

    id: int
    number: str
    side: str
    name: str | None = None
    sex: str | None = None
    birth_year: int | None = None
    birth_date: str | None = None
    event_on: str | None = Field(None, description="child: date found; report: date last seen")
    event_at: str | None = Field(None, description="child: place found; report: place last seen")
    languages: str | None = None
    notes: str | None = None
    created_at: str
    status: str = Field(description="a report: received, under review or closed (never more); a child: its record status")
    shelter: str | None = Field(None, description="children only")
    contact: str | None = Field(None, description="reports only, for the family and admins")
    media: list[MediaSummary]


class FaceOfMedia(Out):
    id: int
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the upright image")
    quality: float
    selected: bool = Field(description="part of the record's template")
    time: Any = Field(None, description="video only: seconds from the start")
    track: int | None = Field(None, description="video only: the face track")
    crop_url: str


class UploadOut(Out):
    """A stored photo (201). ``needs_pick``: several faces, the family says which is their child."""

    media_id: int
    kind: str
    faces: list[FaceOfMedia]
    needs_pick: bool
    warnings: list[str]
    age_at_photo: Any = None


class JobQueued(Out):
    """Work queued in the background (202): follow ``status_url``."""

    job: str
    status: str
    status_url: str


class PickOut(Out):
    face_id: int
    selected: bool


class ErasedOut(Out):
    erased: int = Field(description="the record's id")
    media: int
    faces: int
    candidates: int


class JobOut(Out):
    id: str
    kind: str
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = Field(None, description='{"done", "total", "stage"} while it runs')


# ---- review ----
class LeadOut(Out):
    """A queue row: a candidate (``match``, ``duplicate``) or a sighting; the side a sighting
    is not of is None."""

    id: int
    kind: str
    report_id: str | None = None
    child_id: str | None = None
    score: float
    fmr: float | None = None
    status: str
    evidence: dict[str, Any]


class CandidateOut(LeadOut):
    """One candidate with both records, its decisions and the names' agreement (audited)."""

    records: dict[str, dict[str, Any]]
    raw_score: float | None = None
    name_agreement: dict[str, Any]
    decisions: list[dict[str, Any]]


class SearchHit(Out):
    """One record of a photo search, ranked as reviewers see it (``services.search``)."""

    record_id: str | None = Field(None, description="the record's number")
    score: float | None = Field(None, description="what is ranked")
    raw_score: float | None = Field(None, description="the best face pair's cosine")
    face_id: int | None = None
    media: str | None = Field(None, description="sha256 of the matching photo")
    query_face: int | None = None
    plausible: bool | None = None
    name: str | None = Field(None, description="the names' agreement, when a name was given")


class SearchOut(Out):
    faces: int = Field(description="faces found in the photo")
    candidates: list[SearchHit]


class SightingOut(Out):
    id: int
    kind: str
    record: str = Field(description="the record's number")
    record_id: int
    side: str
    status: str
    score: float
    raw_score: float
    fmr: float | None = None
    fpir: float | None = None
    plausible: bool | None = None
    track: int
    span: list[Any] = Field(description="seconds into the video (start, end); photos: None")
    source: dict[str, Any] | None = None
    source_sha256: str
    swept_by: str
    created_at: str


# ---- admin ----
class UserOut(Out):
    id: int
    name: str
    role: str
    disabled: bool | None = None


class TokenOut(Out):
    """A new bearer token, shown once (only its sha256 is stored)."""

    token: str
    id: int
    user: str
    role: str
    expires_at: str | None = None


class RevokedOut(Out):
    id: int
    revoked: bool


class AuditEventOut(Out):
    id: int
    at: str
    actor: str
    role: str
    action: str
    object_type: str | None = None
    object_id: str | None = None
    request_id: str | None = None
    details: dict[str, Any]
