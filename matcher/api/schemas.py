"""Pydantic models at the HTTP edge only."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
