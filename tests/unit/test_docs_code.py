"""The project's own names that the docs' Python examples import exist: a reader who copies an
example gets no ImportError from a module or name that moved."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def project_imports(text: str) -> list[tuple[str, str | None]]:
    """(module, name or None) of every ``lms_connectors`` import in the Python blocks of ``text``;
    a block that is not whole Python (an elided ``...`` line) is read up to its first bad line."""
    found = []
    for block in PYTHON_BLOCK.findall(text):
        lines = block.splitlines()
        imports = [ln for ln in lines if re.match(r"(from|import)\s+lms_connectors\b", ln)]
        for node in ast.walk(ast.parse("\n".join(imports))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found += [(node.module, alias.name) for alias in node.names]
            elif isinstance(node, ast.Import):
                found += [(alias.name, None) for alias in node.names]
    return found


def missing(imports: list[tuple[str, str | None]]) -> list[str]:
    gone = []
    for module, name in imports:
        try:
            imported = importlib.import_module(module)
        except ImportError:
            gone.append(module)
            continue
        if name is not None and not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ImportError:
                gone.append(f"{module}.{name}")
    return gone


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_import_of_the_docs_examples_exists(doc):
    assert missing(project_imports(doc.read_text())) == []


def test_the_check_sees_a_module_that_does_not_exist():
    text = "```python\nfrom lms_connectors import records as core\nfrom lms_connectors.rules import guard\n```\n"
    assert missing(project_imports(text)) == ["lms_connectors.records"]
