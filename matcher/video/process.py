"""A video -> face tracks with their best faces (flow c), reusing the photo Pipeline.

Sampled frames go through ``Pipeline.analyze`` in small batches (detection per frame, one
shared embedding batch for all their faces); detections are linked into tracks
(``tracking.link_tracks``) and each track keeps its best faces spread in time
(``tracking.select_spread``). Only the kept faces' crops stay in memory.

Mirror TTA (``MATCHER_MIRROR_TTA``) is applied to the kept faces only: every detection is
embedded once, plainly, to link tracks, and only the (at most ``faces_per_track``) faces a
track keeps, which are what a template or a sweep's query is made of, get their mirror image
embedded too (``Pipeline.add_mirror``). Their vectors are the ones the photo pipeline gives
with TTA; the work is about half (measured: 940 recognizer runs -> 520 for a minute of the
Hamilton clip at 720p, where 470 faces are detected and 50 kept).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from matcher.faces.types import DetectedFace
from matcher.vectors import l2_normalize
from matcher.video.decode import DecodeStats, VideoLimits, iter_frames
from matcher.video.tracking import (
    FrameDetections,
    TrackerParams,
    link_tracks,
    select_spread,
)

FRAME_BATCH = 8  # frames analysed together (bounded memory: 8 x 1280x720x3 = 22 MB)


@dataclass(frozen=True, eq=False)
class TrackFace:
    time: float
    face: DetectedFace = field(repr=False)

    @property
    def quality(self) -> float:
        return float(self.face.quality.score)

    @property
    def embedding(self) -> np.ndarray:
        return self.face.embedding


@dataclass(frozen=True, eq=False)
class Track:
    id: int  # 0, 1, ... in order of first appearance
    start: float
    end: float
    detections: int  # sampled frames the face was found in
    faces: tuple[TrackFace, ...]  # the kept faces, in time order

    def template(self) -> np.ndarray:
        """Unit mean of the kept faces' embeddings."""
        return l2_normalize(np.mean([f.embedding for f in self.faces], axis=0))

    def summary(self) -> dict:
        return {
            "id": self.id,
            "start": round(self.start, 2),
            "end": round(self.end, 2),
            "detections": self.detections,
            "faces": [{"time": round(f.time, 2), "quality": round(f.quality, 4), "box": f.face.box.as_list()} for f in self.faces],
        }


@dataclass(frozen=True)
class VideoResult:
    tracks: tuple[Track, ...]
    warnings: tuple[str, ...]
    duration: float
    frames_decoded: int
    frames_sampled: int
    width: int = 0
    height: int = 0
    format: str = ""
    codec: str = ""

    @property
    def main_track(self) -> Track | None:
        """The track seen most often (ties: the earlier one)."""
        return max(self.tracks, key=lambda t: (t.detections, -t.id), default=None)

    @property
    def faces_embedded(self) -> int:
        return sum(t.detections for t in self.tracks)


@dataclass(frozen=True)
class VideoOptions:
    limits: VideoLimits = field(default_factory=VideoLimits)
    tracker: TrackerParams = field(default_factory=TrackerParams)
    faces_per_track: int = 5

    @classmethod
    def from_settings(cls, settings, same_person_threshold: float) -> VideoOptions:
        """Caps and sampling from Settings; re-identification at the pack's same-person threshold."""
        return cls(
            limits=VideoLimits.from_settings(settings),
            tracker=TrackerParams(reid_similarity=same_person_threshold, max_gap_s=settings.video_track_gap_s),
            faces_per_track=settings.video_faces_per_track,
        )


def analyze_video(data: bytes, pipeline, options: VideoOptions = VideoOptions()) -> VideoResult:
    """Tracks of the faces in a video. Raises a typed ``InputError`` for an empty, non-video or
    unreadable file; a video damaged part-way gives what decoded plus a warning."""
    limits, params, faces_per_track = options.limits, options.tracker, options.faces_per_track
    stats = DecodeStats()
    frames: list[FrameDetections] = []
    faces: list[list[DetectedFace]] = []  # per sampled frame, for the faces finally kept
    batch: list = []

    def flush() -> None:
        for sample, found in zip(batch, pipeline.analyze([s.bgr for s in batch], mirror=False), strict=True):
            boxes = np.array([[f.box.x1, f.box.y1, f.box.x2, f.box.y2] for f in found], np.float32).reshape(-1, 4)
            emb = np.stack([f.embedding for f in found]) if found else np.zeros((0, pipeline.dim), np.float32)
            frames.append(FrameDetections(sample.time, boxes, emb))
            faces.append(found)
        batch.clear()

    for sample in iter_frames(data, limits, stats):
        batch.append(sample)
        if len(batch) >= FRAME_BATCH:
            flush()
    flush()

    tracks = build_tracks(frames, faces, link_tracks(frames, params), faces_per_track)
    return VideoResult(
        tracks=with_mirror(tracks, pipeline),
        warnings=tuple(stats.warnings),
        duration=round(stats.duration, 3),
        frames_decoded=stats.frames_decoded,
        frames_sampled=stats.frames_sampled,
        width=stats.width,
        height=stats.height,
        format=stats.format,
        codec=stats.codec,
    )


def build_tracks(frames: list[FrameDetections], faces: list[list[DetectedFace]], linked: list[list[tuple[int, int]]], faces_per_track: int) -> list[Track]:
    """Tracks from linked (frame index, detection index) members, each with its kept faces."""
    tracks = []
    for tid, members in enumerate(linked):
        times = [frames[fi].time for fi, _ in members]
        kept = select_spread(times, [faces[fi][d].quality.score for fi, d in members], faces_per_track)
        tracks.append(
            Track(
                id=tid,
                start=min(times),
                end=max(times),
                detections=len(members),
                faces=tuple(TrackFace(times[k], faces[members[k][0]][members[k][1]]) for k in kept),
            )
        )
    return tracks


def with_mirror(tracks: list[Track], pipeline) -> tuple[Track, ...]:
    """The tracks with their kept faces' embeddings made mirror-TTA ones (one batch for all
    tracks; ``Pipeline.add_mirror`` leaves them as they are when TTA is off)."""
    kept = [f.face for t in tracks for f in t.faces]
    if not kept:
        return tuple(tracks)
    vectors = iter(pipeline.add_mirror(np.stack([f.crop for f in kept]), np.stack([f.embedding for f in kept])))
    return tuple(replace(t, faces=tuple(replace(f, face=replace(f.face, embedding=next(vectors))) for f in t.faces)) for t in tracks)
