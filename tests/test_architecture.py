"""The rooms of docs/architecture.md and their order: a module imports only from its own room
and the rooms before it (function-level imports included), and never another module's private
names. Read from the code's own import statements."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "benchstone"
ORDER = ["errors", "kinds", "paths", "resources", "system", "stats", "gates", "store", "project",
         "sandbox", "run", "jobs", "evaluate", "machine", "service", "api", "report", "integrations", "demo",
         "cli", "__main__"]
FOUNDATION = {"errors", "kinds", "paths", "resources", "system"}
BUNDLED = ("demo/project", "project/templates")  # code that runs inside the sandbox


def room(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "benchstone" else None


def imports() -> list[tuple[str, str, str]]:
    """(file, room of the file, imported module) for every import of benchstone code."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(BUNDLED):
            continue
        own = relative.split("/")[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "benchstone"):
                targets = ([f"{node.module}.{alias.name}" for alias in node.names]
                           if node.module == "benchstone" else [node.module])
                found.extend((relative, own, target) for target in targets)
            elif isinstance(node, ast.Import):
                found.extend((relative, own, alias.name) for alias in node.names
                             if alias.name.startswith("benchstone."))
    return found


def test_every_room_is_in_the_order() -> None:
    rooms = {path.name.removesuffix(".py") for path in PACKAGE.iterdir()
             if not path.name.startswith("_") or path.name == "__main__.py"}
    rooms -= {"py.typed", "__pycache__"}
    assert rooms <= set(ORDER), f"rooms missing from the order: {sorted(rooms - set(ORDER))}"


def test_no_import_runs_up_the_order() -> None:
    rank = {name: index for index, name in enumerate(ORDER)}
    upward = sorted({f"{path}: {target}" for path, own, target in imports()
                     if (to := room(target)) in rank and rank[to] > rank[own]
                     and not (own in FOUNDATION and to in FOUNDATION)})
    assert not upward, "imports that run up the order of docs/architecture.md:\n" + \
        "\n".join(upward)


def test_statistics_and_gates_touch_no_store_sandbox_or_cli() -> None:
    for path, own, target in imports():
        if own in ("stats", "gates"):
            assert room(target) not in ("store", "sandbox", "cli", "api"), f"{path}: {target}"


def test_no_private_name_is_imported_across_modules() -> None:
    crossing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(
                    "benchstone"):
                crossing.extend(f"{relative}: {node.module}.{alias.name}" for alias in node.names
                                if alias.name.startswith("_") and not alias.name.endswith("__"))
    assert not crossing, "\n".join(crossing)
