"""The layering of ``src/pinpipe`` (docs/ARCHITECTURE.md), checked on the source text.

The modules are parsed with ``ast``, never imported: the test then takes well under a second, needs
none of the heavy dependencies, and also sees the imports that only run inside a function or under
``TYPE_CHECKING`` — those are where a layer is usually broken first. Names handed over as strings
(uvicorn's ``pinpipe.api.main:app_from_environment``, ``python -m pinpipe.sink``, the log's backend
table) are not imports and are not checked; a literal ``importlib.import_module("pinpipe.…")`` is.
"""

from __future__ import annotations

import ast
import graphlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "pinpipe"
DOC = ROOT / "docs" / "ARCHITECTURE.md"
DOC_SECTION = "## Who may import whom"

# Lowest first. ALLOWED may name packages of lower layers or of the same one, never of a higher one
# (but for KNOWN_UPWARD), so the table cannot quietly grow a cycle between layers.
LAYER_ORDER: tuple[str, ...] = ("foundation", "definitions", "storage", "processing", "surfaces", "cli")

LAYERS: dict[str, str] = {
    "errors": "foundation",
    "aws": "foundation",
    "display": "foundation",
    "jvm": "foundation",
    "percentile": "foundation",
    "helptext": "foundation",
    "process": "foundation",
    "reports": "foundation",
    "settings": "foundation",
    "clean": "definitions",
    "insights": "definitions",
    "source": "storage",
    "log": "storage",
    "lake": "storage",
    "tables": "storage",
    "spark": "processing",
    "engines": "processing",
    "emulate": "processing",
    "sink": "processing",
    "batch": "processing",
    "stream": "processing",
    "report": "surfaces",
    "sql": "surfaces",
    "api": "surfaces",
    "demo": "surfaces",
    "cli": "cli",
}

# package -> the other pinpipe packages its modules may import. ``pinpipe`` itself (it holds only
# ``__version__``) may be imported from anywhere and is not listed.
ALLOWED: dict[str, frozenset[str]] = {
    "errors": frozenset(),
    "aws": frozenset({"errors"}),
    "display": frozenset(),
    "jvm": frozenset({"errors"}),
    "percentile": frozenset(),
    "helptext": frozenset(),
    "process": frozenset({"errors"}),
    "reports": frozenset({"settings"}),
    "settings": frozenset(
        {
            "errors",
            "jvm",
            "log",  # known: the prefix is checked by log.names.validate_name (a leaf module), inside a validator
        }
    ),
    "clean": frozenset({"errors"}),
    "insights": frozenset(
        {
            "errors",
            "settings",
            "tables",  # known: insights/store.py reads the insight tables back; it is a reader, not a definition
        }
    ),
    "source": frozenset({"errors", "settings"}),
    "log": frozenset({"errors", "process", "settings"}),
    "lake": frozenset({"aws", "errors", "log", "process", "settings"}),
    "tables": frozenset({"aws", "clean", "insights", "settings"}),
    "spark": frozenset({"aws", "errors", "jvm", "settings", "tables"}),
    "engines": frozenset({"clean", "errors", "insights", "lake", "settings", "spark", "tables"}),
    "emulate": frozenset({"errors", "percentile", "settings", "source"}),
    "sink": frozenset({"errors", "helptext", "lake", "log", "process", "settings"}),
    "batch": frozenset({"engines", "insights", "lake", "settings", "tables"}),
    "stream": frozenset(
        {"clean", "engines", "errors", "lake", "log", "percentile", "process", "reports", "settings", "spark", "tables"}
    ),
    "report": frozenset({"errors", "insights", "log", "process", "reports", "settings", "tables"}),
    "sql": frozenset({"clean", "display", "errors", "settings", "tables"}),
    "api": frozenset({"errors", "log", "report", "settings", "stream"}),
    "demo": frozenset(
        {
            "batch",
            "display",
            "emulate",
            "errors",
            "insights",
            "log",
            "process",
            "report",
            "reports",
            "settings",
            "source",
            "stream",
        }
    ),
    "cli": frozenset(
        {
            "api",
            "batch",
            "demo",
            "emulate",
            "errors",
            "helptext",
            "insights",
            "process",
            "report",
            "settings",
            "sink",
            "source",
            "sql",
            "stream",
        }
    ),
}

# The imports of ALLOWED that go up a layer: each one is marked `# known:` above and named in the doc.
KNOWN_UPWARD: frozenset[tuple[str, str]] = frozenset({("settings", "log"), ("insights", "tables")})


@dataclass(frozen=True, slots=True)
class Import:
    """Kept with its line, so a failure points at the statement to change."""

    module: Path
    line: int
    target: str  # the dotted name as imported, e.g. pinpipe.log.base


def package_of(module: Path) -> str:
    """A module answers for its first-level package (``log/kafka.py`` for ``log``): the table is per package."""
    parts = module.relative_to(SRC).parts
    if parts == ("__init__.py",):
        return "pinpipe"
    return parts[0].removesuffix(".py")


def target_package(dotted: str) -> str:
    """``from pinpipe import __version__`` names the root, not a package: only real packages are layered."""
    parts = dotted.split(".")
    if len(parts) < 2:
        return "pinpipe"
    name = parts[1]
    return name if (SRC / name).is_dir() or (SRC / f"{name}.py").is_file() else "pinpipe"


def dotted_name(module: Path) -> list[str]:
    """The module's dotted name as a list, so relative imports resolve against it."""
    parts = list(module.relative_to(SRC.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imports_of(module: Path) -> Iterator[Import]:
    """At any depth: an import inside a function or under ``TYPE_CHECKING`` breaks a layer like one at the top."""
    tree = ast.parse(module.read_text(encoding="utf-8"), filename=str(module))
    here = dotted_name(module)
    package = here if module.name == "__init__.py" else here[:-1]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                stem = ".".join([*base, *([node.module] if node.module else [])])
            else:
                stem = node.module or ""
            # `from pinpipe import x` imports the package x when there is one; `from pinpipe.x import y` is x either way
            names = [f"{stem}.{alias.name}" for alias in node.names] if stem == "pinpipe" else [stem]
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "import_module")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            names = [node.args[0].value]
        for name in names:
            if name == "pinpipe" or name.startswith("pinpipe."):
                yield Import(module, node.lineno, name)


def source_packages() -> set[str]:
    """A new package must get a row, or its imports would go unchecked."""
    found = {path.name for path in SRC.iterdir() if path.is_dir() and any(path.glob("*.py"))}  # stream/ has no __init__
    found |= {path.stem for path in SRC.glob("*.py") if path.name != "__init__.py"}
    return found


def doc_table() -> dict[str, tuple[str, frozenset[str]]]:
    """Read from the markdown itself, so the doc cannot drift from what the test enforces."""
    text = DOC.read_text(encoding="utf-8")
    assert DOC_SECTION in text, f"{DOC.relative_to(ROOT)} has no section {DOC_SECTION!r}"
    section = text.split(DOC_SECTION, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    assert rows, f"no table under {DOC_SECTION!r} in {DOC.relative_to(ROOT)}"
    header = [cell.strip().lower() for cell in rows[0].strip("|").split("|")]
    assert header == ["package", "layer", "may import"], f"unexpected table header {header}"
    table: dict[str, tuple[str, frozenset[str]]] = {}
    for row in rows[2:]:  # past the header and its |---| line
        package, layer, may = (re.sub(r"[`*]", "", cell).strip() for cell in row.strip("|").split("|"))
        names = frozenset(name.strip() for name in may.split(",") if name.strip() not in {"", "—", "-"})
        assert package not in table, f"{package} has two rows in the doc's table"
        table[package] = (layer, names)
    return table


def shown(row: tuple[str, frozenset[str]] | None) -> str:
    """A row as the doc writes it, so a disagreement reads like the two tables side by side."""
    if row is None:
        return "no row"
    layer, names = row
    return f"{layer} | {', '.join(sorted(names)) or '—'}"


def test_imports_respect_the_allowed_table() -> None:
    """A package that reaches into a layer above drags that layer's dependencies (and cycles) along."""
    forbidden: list[str] = []
    for module in sorted(SRC.rglob("*.py")):
        importer = package_of(module)
        for found in imports_of(module):
            target = target_package(found.target)
            if target in {importer, "pinpipe"}:
                continue
            allowed = ALLOWED.get(importer)
            if allowed is None or target not in allowed:
                listed = ", ".join(sorted(allowed)) if allowed else "nothing"
                forbidden.append(
                    f"{module.relative_to(ROOT)}:{found.line}: import of {found.target}: "
                    f"{importer} may not import {target} (allowed: {listed})"
                )
    assert not forbidden, "imports that break the layering (docs/ARCHITECTURE.md):\n" + "\n".join(forbidden)


def test_table_lists_every_package_and_goes_down_the_layers() -> None:
    """A package missing from the table would escape the check; an upward edge there would hide a cycle."""
    assert set(ALLOWED) == source_packages(), (
        f"packages without a row: {sorted(source_packages() - set(ALLOWED))}; "
        f"rows without a package: {sorted(set(ALLOWED) - source_packages())}"
    )
    assert set(LAYERS) == set(ALLOWED)
    assert set(LAYERS.values()) <= set(LAYER_ORDER)
    rank = {layer: index for index, layer in enumerate(LAYER_ORDER)}
    upward = {
        (package, target)
        for package, targets in ALLOWED.items()
        for target in targets
        if rank[LAYERS[target]] > rank[LAYERS[package]]
    }
    assert upward == KNOWN_UPWARD, (
        f"upward imports not marked known: {sorted(upward - KNOWN_UPWARD)}; "
        f"known ones no longer allowed (drop them from KNOWN_UPWARD and the doc): {sorted(KNOWN_UPWARD - upward)}"
    )
    sideways = {
        package: {t for t in targets if (package, t) not in KNOWN_UPWARD} for package, targets in ALLOWED.items()
    }
    try:
        tuple(graphlib.TopologicalSorter(sideways).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"the allowed imports have a cycle within a layer: {' -> '.join(cycle.args[1])}") from None


def test_doc_table_matches_the_test() -> None:
    """The doc is the picture people read; it must say what this test enforces."""
    doc = doc_table()
    ours = {package: (LAYERS[package], ALLOWED[package]) for package in ALLOWED}
    differences = [
        f"{package}: doc says {shown(doc.get(package))}; test says {shown(ours.get(package))}"
        for package in sorted(set(doc) | set(ours))
        if doc.get(package) != ours.get(package)
    ]
    assert not differences, f"{DOC.relative_to(ROOT)} and tests/test_architecture.py disagree:\n" + "\n".join(
        differences
    )


def test_benchmarks_use_only_the_shared_test_harness() -> None:
    """bench/ (bench/peers too) may borrow the shared harness — tests/support (starting the gateway,
    a Kafka broker, the pinpipe executable) and tests/services (free ports, bounded waits) — never a
    test module: a benchmark must not break because a test was renamed or rewritten."""
    borrowed: list[str] = []
    harness = ("tests.support", "tests.services")
    for path in sorted((ROOT / "bench").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            modules = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            borrowed += [
                f"{path.relative_to(ROOT)}: {m}" for m in modules if m.startswith("tests") and not m.startswith(harness)
            ]
    assert borrowed == []
