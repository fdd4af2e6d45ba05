"""The service's models in one place: one ``Pipeline`` per pack, loaded on first use and
exactly once per process, the image limits, and ``photo`` (bytes -> decoded image and its
faces). The wiring (``matcher.container``) holds one ``Analyzer``; nothing here is global.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import FileTooLargeError
from matcher.faces.loader import load_pipeline
from matcher.faces.packs import Pack, get_pack
from matcher.faces.pipeline import Pipeline, StageObserver
from matcher.faces.types import DetectedFace
from matcher.imaging import DecodedImage, ImageLimits, decode_image
from matcher.settings import Settings


@dataclass(frozen=True)
class AnalyzedImage:
    image: DecodedImage
    faces: list[DetectedFace]
    warning: str | None = None  # e.g. the face was found only after enhancing an old print


class Analyzer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.limits = ImageLimits(max_bytes=settings.max_upload_bytes, max_pixels=settings.max_pixels)
        self.stage_observer: StageObserver | None = None  # optional metrics hook for model stages (api.metrics sets it)
        # set by the API: MODEL_WORKERS analyses run at once, so each gets cores/MODEL_WORKERS
        # onnxruntime threads (unless MATCHER_ORT_THREADS says otherwise), as the batch indexer does
        self.split_cores_between_model_slots = False
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}

    def reuse_models(self, other: Analyzer) -> None:
        """Use ``other``'s loaded pipelines (tests that build many services in one process)."""
        self._pipelines = other._pipelines

    def pack_info(self, pack: str | None = None) -> Pack:
        return get_pack(self.settings.models_dir, pack or self.settings.pack)

    def pipeline(self, pack: str | None = None) -> Pipeline:
        name = pack or self.settings.pack
        with self._lock:
            if name not in self._pipelines:
                self._pipelines[name] = load_pipeline(self._model_settings(), name)
            pipeline = self._pipelines[name]
        if self.stage_observer is not None and pipeline.observe is not self.stage_observer:
            pipeline.observe = self.stage_observer
        return pipeline

    def _model_settings(self) -> Settings:
        s = self.settings
        if self.split_cores_between_model_slots and not s.ort_threads:
            return s.model_copy(update={"ort_threads": max(1, s.threads // s.model_slots)})
        return s

    def photo(self, data: bytes, pack: str | None = None) -> AnalyzedImage:
        """A photo's bytes decoded within the limits (EXIF orientation applied), and its faces."""
        image = decode_image(data, self.limits)
        faces, warning = self.pipeline(pack).analyze_photo(image.bgr)
        return AnalyzedImage(image, faces, warning)

    def read_file(self, path: Path) -> bytes:
        """Read a local file, refusing oversized ones before reading them."""
        size = path.stat().st_size
        if size > self.limits.max_bytes:
            raise FileTooLargeError(f"{path.name} is {size / 1e6:.1f} MB; the limit is {self.limits.max_bytes / 1e6:.0f} MB.")
        return path.read_bytes()

    def photo_file(self, path: Path, pack: str | None = None) -> AnalyzedImage:
        return self.photo(self.read_file(path), pack)
