"""insights sits above every other app: none of them imports it, and it reads them only through their selectors."""

import ast
from pathlib import Path

import apps

APPS_DIR = Path(apps.__file__).parent
LOWER = ("catalog", "contracts", "wallets", "usage", "alerts", "core")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)  # from apps.x import models
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_no_lower_app_imports_insights():
    offenders = [
        str(p.relative_to(APPS_DIR))
        for app in LOWER
        for p in (APPS_DIR / app).rglob("*.py")
        if any(m == "apps.insights" or m.startswith("apps.insights.") for m in _imports(p))
    ]
    assert offenders == []


def test_insights_reads_other_apps_only_through_selectors_and_services():
    allowed = ("selectors", "services", "signals", "panels", "pricing")  # catalog.pricing: the one pure pricing rule
    offenders = []
    for path in (APPS_DIR / "insights").rglob("*.py"):
        for module in _imports(path):
            parts = module.split(".")
            if len(parts) >= 3 and parts[0] == "apps" and parts[1] in LOWER[:-1] and parts[2] not in allowed:
                offenders.append(f"{path.relative_to(APPS_DIR)} -> {module}")
    assert offenders == []
