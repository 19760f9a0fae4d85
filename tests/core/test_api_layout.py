"""The API's modules: routers share `api_base`, and only bootstrap imports the app's assembly."""

from __future__ import annotations

import ast
from pathlib import Path

CORE_DIR = Path(__file__).resolve().parents[2] / "gateway" / "core"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_no_module_of_the_core_but_its_bootstrap_imports_the_app_assembly() -> None:
    importers = {
        path.name for path in CORE_DIR.glob("*.py") if "gateway.core.api" in imported_modules(path)
    }
    assert importers == {"daemon.py"}


def test_the_shared_api_module_imports_no_router() -> None:
    shared = imported_modules(CORE_DIR / "api_base.py") | imported_modules(
        CORE_DIR / "case_views.py"
    )
    routers = {f"gateway.core.{p.stem}" for p in CORE_DIR.glob("*_routes.py")}
    routers |= {"gateway.core.api", "gateway.core.api_live", "gateway.core.open311"}
    assert not shared & routers
    assert len(routers) >= 8
