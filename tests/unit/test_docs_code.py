"""The project's own names that the docs' Python examples import exist: a reader who copies an
example gets no ImportError from a module or name that moved."""

from __future__ import annotations

import ast
import importlib
import importlib.util
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


# --- the README's commands, and the links between the pages ----------------------------------
BASH_BLOCK = re.compile(r"```bash\n(.*?)```", re.S)
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), re.M))
# Commands a README reader's shell has, or one of its evals puts on the PATH (psql: analyst-login).
SHELL_COMMANDS = {"psql", "cd", "export", "eval"}


def unknown_commands(text: str) -> list[str]:
    """The commands of ``text``'s bash blocks that do not exist: a ``make`` target the Makefile
    lacks (also inside ``eval "$(make -s ...)"``), a ``python -m`` module that is not there, or a
    program that is neither."""
    unknown = []
    for block in BASH_BLOCK.findall(text):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            for command in filter(None, (c.strip() for c in re.split(r"&&|;|\|", line))):
                for target in re.findall(r"\bmake(?: -s)? ([a-z][a-z-]*)", command):
                    if target not in MAKE_TARGETS:
                        unknown.append(f"make {target}")
                module = re.search(r"python3? -m ([\w.]+)", command)
                if module and importlib.util.find_spec(module.group(1)) is None:
                    unknown.append(f"python -m {module.group(1)}")
                program = command.split()[0]
                if program not in {"make", "python", "python3", ".venv/bin/python", *SHELL_COMMANDS}:
                    unknown.append(program)
    return unknown


def test_every_command_of_the_readme_exists():
    assert unknown_commands((ROOT / "README.md").read_text()) == []


def test_the_command_check_sees_a_target_a_module_and_a_program_that_do_not_exist():
    text = (
        '```bash\nmake demo   # fine\neval "$(make -s no-such-env)"\npython -m lms_connectors.nope\nfrobnicate\n```\n'
    )
    assert unknown_commands(text) == ["make no-such-env", "python -m lms_connectors.nope", "frobnicate"]


LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown text."""
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower().replace("`", ""))
        found.add(slug.replace(" ", "-"))
    return found


def broken_links(page: Path) -> list[str]:
    broken = []
    for link in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", link):
            continue
        path, _, anchor = link.partition("#")
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or (anchor and target.suffix == ".md" and anchor not in anchors(target.read_text())):
            broken.append(link)
    return broken


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_link_between_the_pages_leads_somewhere(doc):
    assert broken_links(doc) == []


def test_the_link_check_sees_a_missing_page_and_a_missing_heading(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n## Here\n\n[a](#here) [b](#gone) [c](NOPE.md#x) [d](page.md#title) [e](https://x.y)\n")
    assert broken_links(page) == ["#gone", "NOPE.md#x"]
