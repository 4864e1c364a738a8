"""Customers sits right above core: it imports only the platform and core layers."""

from __future__ import annotations

from tests.layers import kassa_imports, outside


def test_customers_import_only_the_platform_and_core() -> None:
    imports = kassa_imports("customers")
    assert "customers/services.py" in imports
    assert outside(imports, {"kassa.customers", "kassa.core", "kassa.platform"}) == {}
