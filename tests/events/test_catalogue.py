"""docs/events.md is generated from the catalogue; this fails when it is stale."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from kassa.events.catalogue import EVENT_TYPES
from kassa.events.services import emit

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "event_catalogue.py"


def load_script() -> object:
    spec = importlib.util.spec_from_file_location("event_catalogue", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_events_md_is_up_to_date() -> None:
    script = load_script()
    expected = script.render()  # type: ignore[attr-defined]
    current = script.DOC.read_text()  # type: ignore[attr-defined]
    assert current == expected, (
        "docs/events.md is stale: run .venv/bin/python scripts/event_catalogue.py"
    )
    for name in EVENT_TYPES:
        assert f"`{name}`" in current


@pytest.mark.django_db
def test_emit_refuses_a_type_outside_the_catalogue(org: object) -> None:
    with pytest.raises(ValueError, match="catalogue"):
        emit(org.id, "no.such_type", {"id": "x"})  # type: ignore[attr-defined]
