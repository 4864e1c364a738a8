"""Core is the lowest domain layer: it imports the platform layer and nothing above it, not even
inside functions (events reach it through kassa.core.publishing instead)."""

from __future__ import annotations

from tests.layers import kassa_imports, outside


def test_core_imports_only_the_platform() -> None:
    assert outside(kassa_imports("core"), {"kassa.core", "kassa.platform"}) == {}
