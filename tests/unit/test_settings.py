"""Settings: every field says what it does, and docs/configuration.md is generated from those
descriptions (``python scripts/gen_config_docs.py``) and current."""

from __future__ import annotations

import importlib.util

from matcher.settings import Settings
from tests.conftest import ROOT


def _generator():
    spec = importlib.util.spec_from_file_location("gen_config_docs", ROOT / "scripts" / "gen_config_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_has_a_description():
    missing = [name for name, field in Settings.model_fields.items() if not (field.description or "").strip()]
    assert missing == []


def test_configuration_doc_lists_every_setting_and_is_current():
    gen = _generator()
    text = (ROOT / "docs" / "configuration.md").read_text()
    assert text == gen.render(), "docs/configuration.md is stale: run python scripts/gen_config_docs.py"
    for name, field in Settings.model_fields.items():
        assert f"`MATCHER_{name.upper()}`" in text
        assert field.description.replace("|", "\\|") in text
    assert sum(len(names) for _, names in gen.groups()) == len(Settings.model_fields)  # each setting in exactly one group


def test_a_changed_description_makes_the_doc_stale(monkeypatch):
    gen = _generator()
    before = gen.render()
    monkeypatch.setattr(Settings.model_fields["pack"], "description", "another text")
    assert gen.render() != before
