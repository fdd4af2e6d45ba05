"""Tracking maths: link per-frame detections into face tracks and pick each track's best faces.

Pure functions over arrays (no models, no I/O), so every rule here is unit-tested directly.

Linking, sample by sample:
1. a detection continues an *active* track (seen within ``max_gap_s``) when its box overlaps the
   track's last box (IoU >= ``min_iou``) and its embedding is not clearly someone else
   (cosine >= ``min_link_similarity``), or when it does not overlap but the embedding matches
   (cosine >= ``reid_similarity``, e.g. the person moved fast);
2. otherwise it may *rejoin* any earlier track whose mean embedding matches
   (cosine >= ``reid_similarity``): a face that leaves and returns keeps its track;
3. otherwise it starts a new track.
Pairs are assigned greedily, best first, one detection per track per sample.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from matcher.vectors import cosine_matrix, l2_normalize


@dataclass(frozen=True)
class TrackerParams:
    reid_similarity: float = 0.363  # the pack's same-person cosine threshold
    min_iou: float = 0.3
    min_link_similarity: float = 0.15
    max_gap_s: float = 1.5


@dataclass(frozen=True, eq=False)
class FrameDetections:
    """The detections of one sampled frame: boxes (n, 4) x1y1x2y2 and unit embeddings (n, d)."""

    time: float
    boxes: np.ndarray
    embeddings: np.ndarray


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def link_tracks(frames: Sequence[FrameDetections], params: TrackerParams = TrackerParams()) -> list[list[tuple[int, int]]]:
    """Tracks as lists of (frame index, detection index), in order of first appearance."""
    members: list[list[tuple[int, int]]] = []
    sums: list[np.ndarray] = []  # running sum of member embeddings (mean direction)
    last_box: list[np.ndarray] = []
    last_time: list[float] = []
    for fi, frame in enumerate(frames):
        n = len(frame.boxes)
        if n == 0:
            continue
        emb = np.asarray(frame.embeddings, np.float32)
        assigned: dict[int, int] = {}  # detection -> track
        if members:
            means = l2_normalize(np.stack(sums))
            sim = cosine_matrix(emb, means)  # (n, tracks)
            iou = iou_matrix(frame.boxes, np.stack(last_box))
            active = np.array([frame.time - t <= params.max_gap_s for t in last_time])
            overlap_ok = (iou >= params.min_iou) & (sim >= params.min_link_similarity) & active[None, :]
            reid_ok = sim >= params.reid_similarity
            ok = overlap_ok | reid_ok
            # Score: overlap links first (they are the strongest evidence), then similarity.
            score = np.where(ok, sim + 2.0 * overlap_ok + iou, -np.inf)
            used_tracks: set[int] = set()
            for flat in np.argsort(-score, axis=None):
                d, t = np.unravel_index(flat, score.shape)
                if not np.isfinite(score[d, t]):
                    break
                if d in assigned or t in used_tracks:
                    continue
                assigned[int(d)] = int(t)
                used_tracks.add(int(t))
        for d in range(n):
            t = assigned.get(d)
            if t is None:
                members.append([])
                sums.append(np.zeros(emb.shape[1], np.float32))
                last_box.append(np.zeros(4))
                last_time.append(frame.time)
                t = len(members) - 1
            members[t].append((fi, d))
            sums[t] = sums[t] + emb[d]
            last_box[t] = np.asarray(frame.boxes[d], np.float64)
            last_time[t] = frame.time
    return members


def select_spread(times: Sequence[float], qualities: Sequence[float], n: int) -> list[int]:
    """Indices of up to ``n`` faces, best quality first, no two closer in time than an n-th of
    the span / 2 (so the template is not n copies of one moment); fills up by quality if needed."""
    if n <= 0 or len(times) == 0:
        return []
    times = np.asarray(times, np.float64)
    order = list(np.argsort(-np.asarray(qualities, np.float64), kind="stable"))
    span = float(times.max() - times.min())
    min_gap = span / (2 * n) if n > 1 else 0.0
    chosen: list[int] = []
    for i in order:
        if len(chosen) == n:
            break
        if all(abs(times[i] - times[j]) >= min_gap for j in chosen):
            chosen.append(int(i))
    for i in order:
        if len(chosen) == n:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return sorted(chosen, key=lambda i: times[i])
