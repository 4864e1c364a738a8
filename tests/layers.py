"""What a package of src/kassa imports, for the tests that hold each app to its layer."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "kassa"


def kassa_imports(app: str) -> dict[str, set[str]]:
    """{module path: the kassa.* modules it imports} for every module of `app` outside its
    migrations, counting imports inside functions too."""
    found: dict[str, set[str]] = {}
    for path in sorted((SRC / app).rglob("*.py")):
        if "migrations" in path.parts:
            continue
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(path.relative_to(SRC))] = {n for n in names if n.split(".")[0] == "kassa"}
    return found


def outside(imports: dict[str, set[str]], allowed: set[str]) -> dict[str, set[str]]:
    """The imports of kassa apps other than `allowed`, by module."""
    bad = {
        path: {name for name in names if ".".join(name.split(".")[:2]) not in allowed}
        for path, names in imports.items()
    }
    return {path: names for path, names in bad.items() if names}
