"""Pydantic models at the HTTP edge only."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FaceOut(BaseModel):
    box: list[float] = Field(description="x1, y1, x2, y2 in pixels of the upright image")
    landmarks: list[list[float]] = Field(description="left eye, right eye, nose, left and right mouth corner")
    det_score: float
    quality: float = Field(description="0-1: size, sharpness, pose and detector score combined")


class FacesOut(BaseModel):
    pack: str
    width: int
    height: int
    faces: list[FaceOut]


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


class Health(BaseModel):
    status: str
    pack: str
    version: str


# ---- records ----
Sex = Literal["female", "male", "unknown"]


def _record_fields(body: BaseModel, event: str) -> dict:
    """Given fields as Record columns: ``<event>_on/_at`` (last seen, found) -> ``event_on/_at``."""
    d = body.model_dump(exclude_none=True)
    for suffix in ("on", "at"):
        if f"{event}_{suffix}" in d:
            d[f"event_{suffix}"] = d.pop(f"{event}_{suffix}")
    return d


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=256, description="the child's name as the family knows it")
    sex: Sex | None = None
    birth_year: int | None = Field(None, ge=1990, le=2100)
    birth_date: dt.date | None = None
    last_seen_on: dt.date | None = None
    last_seen_at: str | None = Field(None, max_length=256)
    languages: str | None = Field(None, max_length=256)
    notes: str | None = Field(None, max_length=4000)
    contact: str | None = Field(None, max_length=1000, description="how staff reach the family; never shown to other users")

    def fields(self) -> dict:
        return _record_fields(self, "last_seen")


class ChildIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    number: str | None = Field(None, min_length=1, max_length=128, pattern=r"^[\w.\-/ ]+$", description="shelter record number")
    name: str | None = Field(None, max_length=256)
    sex: Sex | None = None
    birth_year: int | None = Field(None, ge=1990, le=2100, description="estimated")
    shelter: str | None = Field(None, max_length=256)
    found_on: dt.date | None = None
    found_at: str | None = Field(None, max_length=256)
    languages: str | None = Field(None, max_length=256)
    notes: str | None = Field(None, max_length=4000)

    def fields(self) -> dict:
        return _record_fields(self, "found")


class ChildPatch(ChildIn):
    pass


class ImportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    folder: str = Field(
        ..., min_length=1, max_length=1024, pattern=r"^[^\x00-\x1f]+$", description="folder under the server's import root, one sub-folder per child"
    )


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    verdict: Literal["confirmed", "rejected", "unsure"]
    note: str | None = Field(None, max_length=4000)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(..., min_length=1, max_length=128, pattern=r"^[\w.@\-]+$")
    role: Literal["family", "shelter", "reviewer", "admin"]


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user: str = Field(..., min_length=1, max_length=128)
    days: float | None = Field(None, gt=0, le=3650)
