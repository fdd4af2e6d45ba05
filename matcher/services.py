"""Composition root: everything the CLI and the API call, built once from Settings.

Models load lazily (first use) and exactly once per process; nothing here is global:
the entry point builds ``Services(settings)`` and passes it down.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from matcher.errors import FileTooLargeError
from matcher.faces.pipeline import Pipeline
from matcher.faces.types import Face
from matcher.imaging import DecodedImage, ImageLimits, decode_image
from matcher.settings import Settings


@dataclass(frozen=True)
class AnalyzedImage:
    image: DecodedImage
    faces: list[Face]


class Services:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pipelines: dict[str, Pipeline] = {}

    @cached_property
    def limits(self) -> ImageLimits:
        return ImageLimits(max_bytes=self.settings.max_upload_bytes, max_pixels=self.settings.max_pixels)

    def pipeline(self, pack: str | None = None) -> Pipeline:
        name = pack or self.settings.pack
        with self._lock:
            if name not in self._pipelines:
                from matcher.faces.loader import load_pipeline

                self._pipelines[name] = load_pipeline(self.settings, name)
            return self._pipelines[name]

    def analyze_bytes(self, data: bytes, pack: str | None = None) -> AnalyzedImage:
        image = decode_image(data, self.limits)
        return AnalyzedImage(image, self.pipeline(pack).analyze_one(image.bgr))

    def read_file(self, path: Path) -> bytes:
        """Read a local file, refusing oversized ones before reading them."""
        size = path.stat().st_size
        if size > self.limits.max_bytes:
            raise FileTooLargeError(
                f"{path.name} is {size / 1e6:.1f} MB; the limit is {self.limits.max_bytes / 1e6:.0f} MB."
            )
        return path.read_bytes()

    def analyze_file(self, path: Path, pack: str | None = None) -> AnalyzedImage:
        return self.analyze_bytes(self.read_file(path), pack)
