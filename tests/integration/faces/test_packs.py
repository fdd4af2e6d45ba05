"""Model pack manifests: verification by sha256, clear errors, conversion cache, listing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from matcher.cli.app import app
from matcher.errors import ModelChecksumError, ModelFileMissingError, UnknownPackError
from matcher.faces.loader import load_pipeline
from matcher.faces.packs import get_pack, list_packs, pack_state, prepared_model
from tests.conftest import ROOT, make_settings


def _copy_pack(tmp_path: Path, name: str) -> Path:
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models" / name, models / name, ignore=shutil.ignore_patterns("*.onnx"))
    return models


def test_default_and_buffalo_packs_are_listed_with_licences():
    packs = {p.name: p for p in list_packs(ROOT / "models")}
    assert {"yunet_sface", "buffalo_l"} <= packs.keys()
    assert packs["yunet_sface"].commercial_use and packs["yunet_sface"].embedding_dim == 128
    assert not packs["buffalo_l"].commercial_use and "non-commercial" in packs["buffalo_l"].licence
    assert packs["buffalo_l"].embedding_dim == 512


def test_missing_operator_file_error_names_path_and_sha(tmp_path):
    models = _copy_pack(tmp_path, "buffalo_l")
    settings = make_settings(tmp_path / "var", models_dir=models)
    with pytest.raises(ModelFileMissingError) as err:
        load_pipeline(settings, "buffalo_l")
    assert str(models / "buffalo_l" / "det_10g.onnx") in err.value.message
    assert "5838f7fe053675b1c7a08b633df49e7af5495cee0493c7dcf6697200b85b5b91" in err.value.message


def test_corrupted_model_file_is_refused_with_expected_sha(tmp_path):
    models = _copy_pack(tmp_path, "buffalo_l")
    (models / "buffalo_l" / "det_10g.onnx").write_bytes(b"not really a model")
    state = pack_state(get_pack(models, "buffalo_l"))
    assert not state.ready
    with pytest.raises(ModelChecksumError) as err:
        load_pipeline(make_settings(tmp_path / "var", models_dir=models), "buffalo_l")
    assert "det_10g.onnx" in err.value.message and "5838f7fe" in err.value.message


def test_unknown_pack_is_a_clear_error(tmp_path):
    with pytest.raises(UnknownPackError, match="no model pack 'nope'"):
        load_pipeline(make_settings(tmp_path / "var"), "nope")


def test_tampered_converted_model_is_rebuilt(tmp_path):
    pack = get_pack(ROOT / "models", "yunet_sface")
    cache = tmp_path / "cache"
    first = prepared_model(pack, pack.detector, cache)
    good = first.read_bytes()
    first.write_bytes(good[:-10] + b"0123456789")
    again = prepared_model(pack, pack.detector, cache)
    assert again == first and again.read_bytes() == good
    assert not list(cache.rglob("*.tmp"))


def test_models_command_shows_state_and_licence(tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHER_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["yunet_sface"]["ready"] and rows["yunet_sface"]["default"]
    if not (ROOT / "models" / "buffalo_l" / "det_10g.onnx").exists():
        assert not rows["buffalo_l"]["ready"]
        assert any("det_10g.onnx" in p for p in rows["buffalo_l"]["problems"])
