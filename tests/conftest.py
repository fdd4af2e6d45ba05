"""Shared fixtures: a Settings per test (temporary DATA_DIR), the real default pipeline
(built once per session), and the shared labelled photos when they are present."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from matcher.settings import Settings, apply_privacy_env

apply_privacy_env()
ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    candidate = Path(os.environ.get("MATCHER_TEST_DATA") or ROOT.parent / "shared" / "data")
    return candidate if (candidate / "faces").is_dir() else None


@dataclass(frozen=True)
class LabelledPhoto:
    path: Path
    identity: str


@pytest.fixture(scope="session")
def shared_data() -> Path:
    found = shared_data_dir()
    if found is None:
        pytest.skip("shared test photos not found: set MATCHER_TEST_DATA or place them in ../shared/data")
    return found


@pytest.fixture(scope="session")
def labelled_photos(shared_data: Path) -> list[LabelledPhoto]:
    photos = []
    for manifest in sorted((shared_data / "faces").glob("*/manifest.csv")):
        with manifest.open(newline="") as fh:
            photos += [LabelledPhoto(manifest.parent / row["path"], row["identity"]) for row in csv.DictReader(fh)]
    assert photos, "manifests list no photos"
    return photos


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory) -> Path:
    """Converted models are cached once per test session, like DATA_DIR/models in production."""
    return tmp_path_factory.mktemp("var")


def make_settings(data_dir: Path, **overrides) -> Settings:
    values = {"data_dir": data_dir, "models_dir": ROOT / "models", "ort_threads": 2, **overrides}
    return Settings(**values)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Fresh, empty DATA_DIR for tests that must not share state (models convert again: ~1 s)."""
    return make_settings(tmp_path / "var")


@pytest.fixture(scope="session")
def services(model_cache: Path):
    from matcher.container import Services

    return Services(make_settings(model_cache))


@pytest.fixture(scope="session")
def pipeline(services):
    return services.pipeline()


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def astronaut_jpeg(astronaut_bgr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", astronaut_bgr, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def postgres_server():
    from tests import pg

    reason = pg.unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = pg.Server()
    server.start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> str | None:
    """Each storage test runs on SQLite and, where a server can be started, PostgreSQL."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_server").new_database()
