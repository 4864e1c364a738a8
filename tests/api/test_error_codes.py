"""docs/api.md's table of error codes and the codes the code answers with agree: every `code`
an error class (or a table of codes) defines is documented, and every documented code is
answered somewhere."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "kassa"
DOCS = ROOT / "docs" / "api.md"

# Codes written as literals outside any error class, with the module that writes them.
OUTSIDE_CLASSES = {
    "server_busy": "platform/wsgi_bridge.py",
    "too_many_streams": "wallets/stream_asgi.py",
    "stream_unavailable": "wallets/stream_asgi.py",
}


def _string(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def codes_in_source() -> dict[str, str]:
    """Each code defined as `code = "..."` in a class body, or as a value of a module-level
    dict whose name ends in CODES, with the file that defines it."""
    found: dict[str, str] = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        where = str(path.relative_to(SOURCE))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    targets = (
                        item.targets
                        if isinstance(item, ast.Assign)
                        else [item.target]
                        if isinstance(item, ast.AnnAssign)
                        else []
                    )
                    if [getattr(t, "id", None) for t in targets] == ["code"] and (
                        code := _string(getattr(item, "value", None))
                    ) is not None:
                        found[code] = where
        for node in tree.body:
            target, value = None, None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            if (
                isinstance(target, ast.Name)
                and target.id.upper().endswith("CODES")
                and isinstance(value, ast.Dict)
            ):
                for item in value.values:
                    if (code := _string(item)) is not None:
                        found[code] = where
    return found


def documented_codes() -> set[str]:
    text = DOCS.read_text()
    section = text.split("## Error codes", 1)[1].split("\n## ", 1)[0]
    codes = set(re.findall(r"^\| `([a-z_]+)` \|", section, flags=re.MULTILINE))
    assert len(codes) > 30, "the codes table of docs/api.md was not found"
    return codes


def test_the_scan_finds_the_error_classes() -> None:
    found = codes_in_source()
    assert found["invalid_request"] == "core/errors.py"  # KassaError's, annotated
    assert found["resource_missing"] == "core/errors.py"
    assert found["insufficient_funds"] == "ledger/services.py"
    assert found["unknown_event_type"] == "events/catalogue.py"


def test_every_code_in_the_code_is_documented() -> None:
    undocumented = sorted(set(codes_in_source()) - documented_codes())
    assert undocumented == [], "add these to the codes table in docs/api.md"


def test_every_documented_code_is_answered_somewhere() -> None:
    answered = set(codes_in_source())
    for code, module in OUTSIDE_CLASSES.items():
        assert f'"{code}"' in (SOURCE / module).read_text(), (code, module)
        answered.add(code)
    assert sorted(documented_codes() - answered) == []
