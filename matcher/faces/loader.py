"""Build a Pipeline for a pack: verify files, convert once, create sessions, pick model classes."""

from __future__ import annotations

from matcher.errors import ModelError
from matcher.faces.arcface import ArcFace
from matcher.faces.packs import Pack, get_pack, prepared_model
from matcher.faces.pipeline import Pipeline, PipelineConfig
from matcher.faces.runtime import make_session
from matcher.faces.sface import SFace
from matcher.faces.yunet import YuNet
from matcher.settings import Settings


def load_pipeline(settings: Settings, pack_name: str | None = None) -> Pipeline:
    pack = get_pack(settings.models_dir, pack_name or settings.pack)
    detector = _detector(pack, settings)
    recognizer = _recognizer(pack, settings)
    if recognizer.dim != pack.embedding_dim:
        raise ModelError(f"pack {pack.name}: recognizer gives {recognizer.dim}-d vectors, manifest says {pack.embedding_dim}")
    config = PipelineConfig(
        pack=pack.name,
        score_threshold=settings.det_score_threshold,
        min_face_px=settings.min_face_px,
        batch_size=settings.embed_batch,
        mirror_tta=settings.mirror_tta,
        face_retry=settings.face_retry,
    )
    return Pipeline(detector, recognizer, config)


def _detector(pack: Pack, settings: Settings):
    model = pack.detector
    path = prepared_model(pack, model, settings.model_cache_dir)
    session = make_session(path, settings.threads)
    if model.kind == "yunet":
        return YuNet(session, input_size=model.input_size[0], nms_threshold=settings.nms_threshold)
    if model.kind == "scrfd":
        from matcher.faces.scrfd import SCRFDDetector  # needs insightface, whose import is slow: only for packs with SCRFD

        return SCRFDDetector(path, session, input_size=model.input_size[0])
    raise ModelError(f"pack {pack.name}: unknown detector kind '{model.kind}'")


def _recognizer(pack: Pack, settings: Settings):
    model = pack.recognizer
    session = make_session(prepared_model(pack, model, settings.model_cache_dir), settings.threads)
    if model.kind == "sface":
        return SFace(session)
    if model.kind == "arcface":
        return ArcFace(session, mean=model.mean, std=model.std)
    raise ModelError(f"pack {pack.name}: unknown recognizer kind '{model.kind}'")
