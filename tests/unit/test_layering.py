"""The provider seam holds: no module outside providers/ imports a provider package."""

from __future__ import annotations

import ast
from pathlib import Path

from lms_connectors import encodings, providers, time_rules

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]
PROVIDERS_DIR = ROOT / "plugins" / "lms_connectors" / "providers"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def test_no_module_outside_providers_imports_a_provider_package():
    packages = providers.names()
    assert {"openclassrooms", "linkedin_learning"} <= set(packages)
    offenders = {}
    for path in PRODUCT:
        if PROVIDERS_DIR in path.parents:
            continue
        bad = sorted(
            m
            for m in imported_modules(path)
            for p in packages
            if m == f"lms_connectors.providers.{p}" or m.startswith(f"lms_connectors.providers.{p}.")
        )
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert offenders == {}


def test_the_check_sees_an_import_of_a_provider_package(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("from lms_connectors.providers.openclassrooms import contract\nimport lms_connectors.providers\n")
    assert "lms_connectors.providers.openclassrooms.contract" in imported_modules(sample)


def test_every_provider_package_gives_a_complete_provider():
    for name in providers.names():
        provider = providers.get(name)
        assert provider.name == name
        assert provider.kept_statuses
        # Strategies are named from the core's registries; declarations take their documented values.
        assert provider.time_spent_rule in time_rules.RULES
        assert provider.activity_timestamps in encodings.TIMESTAMPS
        assert provider.removed_courses in ("archive", "keep")
        assert provider.credentials in ("client", "token")
        # The activity allow-list speaks the core's names (lms_connectors.records).
        from lms_connectors import records

        assert {f.name for f in provider.activity_schema.fields} <= {records.LEARNER, *records.ACTIVITY_FIELDS}
        assert provider.activity_schema.field(records.LEARNER).secret
