"""The package's layers hold: each folder imports only what its first lines allow, and no module
outside providers/ imports a provider package."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from lms_connectors import providers
from lms_connectors.rules import encodings, time_rules

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = [*(ROOT / "plugins").rglob("*.py"), *(ROOT / "dags").rglob("*.py")]
PACKAGE = ROOT / "plugins" / "lms_connectors"
PROVIDERS_DIR = PACKAGE / "providers"
LAYERS = sorted(p.parent for p in PACKAGE.glob("*/__init__.py"))


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


def layer_rules(layer: Path) -> tuple[tuple[str, ...], set[str]]:
    """The ``May import:`` and ``Never imports:`` lines among the first lines of a layer's docstring."""
    head = (ast.get_docstring(ast.parse((layer / "__init__.py").read_text())) or "").splitlines()[:5]
    may = next((line.removeprefix("May import:") for line in head if line.startswith("May import:")), None)
    never = next((line.removeprefix("Never imports:") for line in head if line.startswith("Never imports:")), "")
    assert may is not None, f"{layer.name}/__init__.py does not say what it may import in its first lines"
    allowed = tuple(m.strip() for m in may.split(","))
    forbidden = {w.strip(" ,") for w in never.split("(")[0].split(",") if w.strip(" ,")}
    return allowed, forbidden


def layer_offences(layer: Path) -> dict[str, list[str]]:
    allowed, forbidden = layer_rules(layer)
    offences = {}
    for path in layer.rglob("*.py"):
        bad = sorted(
            m
            for m in imported_modules(path)
            if (m.startswith("lms_connectors.") and not any(m == a or m.startswith(f"{a}.") for a in allowed))
            or m.split(".")[0] in forbidden
        )
        if bad:
            offences[str(path.relative_to(ROOT))] = bad
    return offences


def test_every_module_of_the_package_lives_in_a_layer():
    assert {p.name for p in LAYERS} == {
        "rules",
        "providers",
        "warehouse",
        "privacy",
        "pipeline",
        "orchestration",
        "health",
        "xapi",
    }
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]


@pytest.mark.parametrize("layer", LAYERS, ids=lambda p: p.name)
def test_each_layer_imports_only_what_its_first_lines_allow(layer):
    assert layer_offences(layer) == {}


def test_the_layer_check_sees_an_upward_import_and_a_forbidden_library(tmp_path):
    layer = tmp_path / "rules"
    layer.mkdir()
    (layer / "__init__.py").write_text(
        '"""Pure.\n\nMay import: lms_connectors.rules\nNever imports: psycopg (no I/O)\n"""\n'
    )
    (layer / "bad.py").write_text("import psycopg\n\n\ndef f():\n    from lms_connectors.pipeline import progress\n")
    (layer / "good.py").write_text("from lms_connectors.rules import guard\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert layer_offences(layer) == {
            "rules/bad.py": ["lms_connectors.pipeline", "lms_connectors.pipeline.progress", "psycopg"]
        }
    finally:
        ROOT = saved


# What does I/O without importing an I/O library: files opened or written (reading the package's own
# SQL is rules.paths' job, through read_text of its folders), SQL sent on a connection handed in,
# pandas' readers and writers, and great-expectations' data sources that reach a database or a
# file store (its in-memory pandas source is the rules' own).
IO_CALLS = {
    *("open", "write_text", "write_bytes", "unlink", "rmdir", "mkdir", "rename", "replace", "touch"),
    *("execute", "executemany", "cursor", "copy", "read_sql", "to_sql", "read_csv", "to_csv", "read_parquet"),
}
GX_STORE_SOURCE = re.compile(
    r"^add(_or_update)?_(sql|postgres|sqlite|snowflake|databricks_sql|redshift|spark\w*|pandas_(filesystem|s3|gcs|abs))$"
)


def io_calls(path: Path) -> list[str]:
    """The calls of ``path`` that reach outside the process: ``name:line`` each."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if (
            name in IO_CALLS and not (name == "replace" and isinstance(func, ast.Attribute) and _is_str_method(node))
        ) or (GX_STORE_SOURCE.match(name)):
            found.append((node.lineno, name))
    return [f"{name}:{line}" for line, name in sorted(found)]


def _is_str_method(call: ast.Call) -> bool:
    # str.replace(old, new) takes two arguments; Path.replace(target) one.
    return len(call.args) >= 2


def no_io_layers() -> list[Path]:
    """The layers whose first lines say they do no I/O."""
    return [
        layer
        for layer in LAYERS
        if "no I/O" in (ast.get_docstring(ast.parse((layer / "__init__.py").read_text())) or "")
    ]


def test_the_layers_without_io_call_none():
    assert [layer.name for layer in no_io_layers()] == ["rules"]
    offences = {
        str(path.relative_to(ROOT)): calls
        for layer in no_io_layers()
        for path in layer.rglob("*.py")
        if (calls := io_calls(path))
    }
    assert offences == {}


def test_the_io_check_sees_a_file_written_and_a_database_source(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "def f(ctx, path, text):\n"
        "    text.replace('a', 'b')\n"
        "    open(path).read()\n"
        "    path.write_text(text)\n"
        "    ctx.data_sources.add_or_update_sql('x', connection_string='postgresql://')\n"
        "    ctx.data_sources.add_pandas('frames')\n"
        "    ctx.conn.execute('SELECT 1 FROM lms.groups')\n"
    )
    assert io_calls(sample) == ["open:3", "write_text:4", "add_or_update_sql:5", "execute:7"]


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
        # The activity allow-list speaks the core's names (lms_connectors.rules.records).
        from lms_connectors.rules import records

        names = {f.name for f in provider.activity_schema.fields}
        assert names <= {records.LEARNER, records.LEARNER_ID, *records.ACTIVITY_FIELDS}
        assert provider.activity_schema.field(records.LEARNER).secret
        # A learner id is declared with its kind of identity, and hashed like the email.
        assert (records.LEARNER_ID in names) == (provider.learner_id_kind is not None), name
        if provider.learner_id_kind is not None:
            assert provider.learner_id_kind in ("sso_subject", "provider_account")
            assert provider.activity_schema.field(records.LEARNER_ID).secret


def test_the_package_finds_the_project_files_from_its_layer_folder():
    from lms_connectors.rules import paths

    assert paths.PROJECT_ROOT == ROOT
    assert sorted(paths.MIGRATIONS_DIR.glob("V001__*.sql"))


def test_no_function_of_the_package_is_longer_than_a_screen():
    """80 lines: a longer function is a design question (it was 193 for the DAG factory once)."""
    long = {
        f"{path.relative_to(ROOT)}:{node.name}": node.end_lineno - node.lineno + 1
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno + 1 > 80
    }
    assert long == {}
