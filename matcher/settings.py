"""The one Settings object. Built at the entry point (CLI, app factory, test) and passed down.

Every field can be set from the environment with the ``MATCHER_`` prefix, e.g.
``MATCHER_DATA_DIR=/srv/matcher``. Nothing here is a module-level instance.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from matcher.types import RankScore

# Privacy: onnxruntime's telemetry (Windows ETW) and any library phone-home are switched
# off before those libraries are imported anywhere in the process.
PRIVACY_ENV = {
    "ORT_DISABLE_TELEMETRY": "1",
    "ORT_DISABLE_TELEMETRY_EVENTS": "1",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "OTEL_SDK_DISABLED": "true",
    "FASTAPI_OTEL_AUTO_CONFIGURE": "false",
    "INSIGHTFACE_HOME": "/nonexistent-insightface-home",  # never let insightface fetch a pack
}


def apply_privacy_env() -> None:
    for key, value in PRIVACY_ENV.items():
        os.environ.setdefault(key, value)


def _default_models_dir() -> Path:
    """``models/`` beside the package (an editable install, as `make run` makes), else ./models."""
    beside = Path(__file__).resolve().parent.parent / "models"
    return beside if beside.is_dir() else Path("models")


def _beside_data_dir(data_dir: Path, suffix: str) -> Path:
    """``/srv/matcher`` -> ``/srv/matcher<suffix>``: outside the data folder, so a copy or
    backup of the folder does not carry it."""
    resolved = data_dir.resolve()
    return resolved.parent / f"{resolved.name}{suffix}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHER_", extra="ignore", frozen=True)

    data_dir: Path = Field(Path("var"), description="SQLite file, blobs, indexes, converted models, reports")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default sqlite:///DATA_DIR/matcher.db; `postgresql://...` uses psycopg 3")
    models_dir: Path = Field(
        default_factory=_default_models_dir, description="model pack manifests (and operator-placed files); default `models/` of this checkout"
    )
    pack: str = Field("yunet_sface", description="default model pack")

    # inference
    ort_threads: int = Field(0, ge=0, description="onnxruntime intra-op threads; 0 = number of cores (shared between the model slots in `matcher serve`)")
    det_size: int = Field(640, ge=160, le=1920, description="longest side fed to the detector")
    det_score_threshold: float = Field(0.6, ge=0.0, le=1.0, description="detector score a face must reach")
    nms_threshold: float = Field(0.3, ge=0.0, le=1.0, description="box overlap above which the detector keeps only the stronger of two faces")
    min_face_px: int = Field(20, ge=1, description="faces with a shorter box side are dropped")
    embed_batch: int = Field(16, ge=1, le=256, description="faces per recognizer call")
    mirror_tta: bool = Field(
        True,
        description="average the embedding of the face and its mirror image (about +1 point of rank-1 measured on age-gap photos, about 1.4x the time per photo)",
    )

    # input limits
    max_upload_mb: float = Field(50.0, gt=0, description="largest photo accepted (videos: MATCHER_VIDEO_MAX_MB)")
    max_pixels: int = Field(60_000_000, gt=0, description="decoded width*height limit (decompression bombs)")

    # shelter archives uploaded as a ZIP (ingest.zip_archive): held in memory, never unpacked to disk
    max_archive_mb: float = Field(
        1024.0,
        gt=0,
        le=2000,
        description="largest ZIP a shelter may upload; it is held in memory (about 3x its size at the peak); at most 2000 (one AES-GCM seal)",
    )
    archive_max_files: int = Field(20_000, ge=1, le=1_000_000, description="entries (files and folders) one uploaded ZIP may hold")
    archive_max_unpacked_mb: float = Field(4096.0, gt=0, description="total unpacked size of the files in one uploaded ZIP")
    archive_max_ratio: float = Field(
        100.0, ge=2, description="a file in a ZIP that unpacks to more than this many times its packed size (and over 1 MB) marks the ZIP as a bomb"
    )

    # video (flow c): frames sampled, caps on the work one upload may cause
    video_sample_fps: float = Field(3.0, gt=0, le=30, description="frames per second sent to the detector")
    video_scene_threshold: float = Field(0.12, ge=0, le=1, description="grey-thumbnail change (0-1) that adds a scene-change sample")
    video_max_mb: float = Field(500.0, gt=0, description="largest video file accepted")
    video_max_duration_s: float = Field(600.0, gt=0, description="only the first this-many seconds are examined")
    video_max_side: int = Field(1280, ge=160, le=7680, description="frames are scaled so their longest side is at most this")
    video_max_frames: int = Field(40_000, ge=1, description="decoded frames examined at most")
    video_max_samples: int = Field(1800, ge=1, description="sampled frames sent to the detector at most")
    video_faces_per_track: int = Field(5, ge=1, le=100, description="best faces kept per track, spread in time")
    video_track_gap_s: float = Field(1.5, gt=0, description="longest gap a track may bridge by box overlap")

    # index and review
    index_mode: Literal["exact", "ann"] = Field("exact", description="exact, or ann (IVF with exact re-ranking of the shortlist; exact below 20,000 faces)")
    fusion: Literal["best", "support"] = Field("best", description="record-pair score rule of `matcher eval` (review.fusion)")
    match_neighbours: int = Field(100, ge=1, le=2000, description="index neighbours fetched per face when matching and searching")
    two_person_rule: bool = Field(False, description="a confirmation needs two different reviewers")

    # accuracy levers (docs/matching.md "Accuracy levers"; each one used the same way by search, matching, the queue and eval)
    score_norm: Literal["none", "snorm"] = Field("snorm", description="adaptive S-norm of record-pair scores (review.normalization)")
    norm_top_k: int = Field(20, ge=1, le=500, description="cohort size K of the score normalisation")
    rank_score: RankScore = Field(
        RankScore.CENTRED,
        description="what orders the children of one report's list, search results and one record's sightings: "
        "centred (s minus the child's own cohort mean), znorm, snorm (the cross-report score) or raw (review.normalization)",
    )
    rank_cohort_k: int = Field(50, ge=1, le=500, description="cohort size K of the rank score: each child's K best scores against the other children")
    age_ranking: bool = Field(True, description="implausible age/sex pairs rank below plausible ones")
    name_ranking: bool = Field(True, description="name agreement across scripts orders candidates within a list (review.names)")
    shortlist: int = Field(20, ge=1, le=500, description="best children kept in the queue for every open report")
    queue_fpir: float = Field(1e-2, gt=0, lt=1, description="open-set false-positive rate per record for duplicates and 'strong' leads")
    duplicate_cap: int = Field(3, ge=0, le=100, description="new duplicate leads per record at most")
    match_chunk: int = Field(256, ge=1, le=100_000, description="records matched per committed chunk")
    face_retry: bool = Field(True, description="retry a photo with no face upscaled and contrast-equalised (old prints, scans)")

    # data protection (docs/data-protection.md; matcher.protection.service)
    encrypt_blobs: bool = Field(
        True, description="seal blobs with AES-GCM under the data key (clear-text blobs are converted at start; docs/data-protection.md)"
    )
    data_key_file: Path | None = Field(None, description="data key file (created 0600 at first start); default beside DATA_DIR, named after it (DATA_DIR.key)")
    erasure_log: Path | None = Field(
        None, description="append-only copy of the erasure tombstones, re-applied on restore; default DATA_DIR.erasures.jsonl beside DATA_DIR"
    )
    retention_originals_days: int = Field(
        0, ge=0, description="purge a media original this many days after its faces were extracted (crops and embeddings stay); 0 = keep"
    )
    retention_closed_days: int = Field(0, ge=0, description="erase closed and withdrawn cases this many days after they closed; 0 = keep")
    retention_rejected_days: int = Field(0, ge=0, description="trim a rejected candidate's evidence to its scores this many days after the rejection; 0 = keep")
    retention_sweep_hours: float = Field(24.0, gt=0, description="how often `matcher serve` applies retention and finishes pending erasures")

    # federation: other organisations' instances (docs/federation.md; matcher.federation)
    federation_key_file: Path | None = Field(
        None, description="this instance's Ed25519 signing key; default beside the data key (DATA_KEY_FILE with suffix .signing.key), never inside DATA_DIR"
    )
    federation_clock_window_s: int = Field(300, ge=5, le=3600, description="a peer's signed request more than this many seconds old or ahead is refused")
    federation_handle_hours: float = Field(72.0, gt=0, le=24 * 90, description="how long a handle given to a peer can be named in a disclosure request")

    # HTTP and accounts
    import_root: Path | None = Field(None, description="server folder under which shelter staff may import archives; unset = off")
    rate_uploads_per_minute: int = Field(30, ge=1, description="uploads per token per minute")
    rate_searches_per_minute: int = Field(60, ge=1, description="searches per token per minute")
    token_days: float = Field(90, gt=0, description="default token lifetime")
    inprocess_worker: bool = Field(True, description="API processes also run queued background jobs (false: only `matcher worker` runs them)")
    host: str = Field("127.0.0.1", description="where `matcher serve` listens")
    port: int = Field(8000, description="the port `matcher serve` listens on")

    # operating it (docs/operations.md): back-pressure, logs, a busy database
    model_workers: int = Field(0, ge=0, le=256, description="uploads, searches and detections analysed at once (bounded pool); 0 = number of cores")
    model_queue: int | None = Field(
        None,
        ge=0,
        le=10_000,
        description="more that may wait for the pool before a 503 + Retry-After; default 64 (about 10 s of work on 2 cores; docs/operations.md)",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="json: one JSON object per line (request id, route template; never names, notes, tokens or file names)"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="the lowest level logged")
    sqlite_busy_timeout_s: float = Field(30.0, gt=0, le=600, description="how long a SQLite write waits for the lock before a 503")

    def model_post_init(self, _context) -> None:
        if os.environ.get("MATCHER_QUEUE_FMR"):  # replaced, not silently ignored
            logging.getLogger(__name__).warning(
                "MATCHER_QUEUE_FMR is no longer used: every report keeps a shortlist (MATCHER_SHORTLIST) and "
                "strong leads and duplicates are gated on the open-set rate MATCHER_QUEUE_FPIR"
            )

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def max_archive_bytes(self) -> int:
        return int(self.max_archive_mb * 1024 * 1024)

    @property
    def video_max_bytes(self) -> int:
        return int(self.video_max_mb * 1024 * 1024)

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'matcher.db').resolve()}"

    @property
    def data_key_path(self) -> Path:
        """The data key file: MATCHER_DATA_KEY_FILE, else beside DATA_DIR (never inside it)."""
        return self.data_key_file or _beside_data_dir(self.data_dir, ".key")

    @property
    def federation_key_path(self) -> Path:
        """The signing key file: MATCHER_FEDERATION_KEY_FILE, else in the data key's folder."""
        return self.federation_key_file or self.data_key_path.with_suffix(".signing.key")

    @property
    def erasure_log_path(self) -> Path:
        return self.erasure_log or _beside_data_dir(self.data_dir, ".erasures.jsonl")

    @property
    def model_cache_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def threads(self) -> int:
        return self.ort_threads or (os.cpu_count() or 1)

    @property
    def model_slots(self) -> int:
        return self.model_workers or (os.cpu_count() or 1)

    @property
    def model_waiting(self) -> int:
        # 64 waiting photos is ~10 s of work at the measured ~6 photos/s on 2 cores: a family waits
        # rather than being told "busy" until the queue is that long (docs/operations.md)
        return max(64, 2 * self.model_slots) if self.model_queue is None else self.model_queue
