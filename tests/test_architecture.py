"""The package's shape: imports flow one way through the layers written in README.md
("Architecture"), with no cycle; modules stay short; CLI commands stay thin.

The import graph is read with `ast` from every module of leanamp/, counting imports at module level
and inside functions alike. `from leanamp.x import y` is an edge to leanamp.x.y when that is a
module, else to leanamp.x (the package's __init__).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "leanamp"

# Lowest first; a module may import its own layer and the layers before it. Keep in step with
# README.md's "Architecture" section.
LAYERS = [
    {"leanamp", "errors", "files", "ledger", "results", "plots", "progress"},
    {"audio"},
    {"devices"},
    {"data"},
    {"models"},
    {"inference"},
    {"formats", "runtime"},
    {"engines"},
    {"losses"},
    {"train"},
    {"prune", "transfer", "distill"},
    {"workflows"},
    {"report"},
    {"listen"},
    {"sweep"},
    {"cli", "__main__"},
]
MAX_MODULE_LINES = 500
MAX_COMMAND_LINES = 40


def module_files() -> dict[str, Path]:
    modules = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def import_edges(modules: dict[str, Path]) -> set[tuple[str, str]]:
    edges = set()
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(anchor + ([node.module] if node.module else []))
                targets = [
                    f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add((name, target))
    return edges


def layer_of(module: str) -> int:
    top = module.split(".")[1] if "." in module else module
    for index, layer in enumerate(LAYERS):
        if top in layer:
            return index
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS and README.md")


def find_cycle(edges: set[tuple[str, str]]) -> list[str] | None:
    graph: dict[str, list[str]] = {}
    for source, target in sorted(edges):
        graph.setdefault(source, []).append(target)
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_every_module_has_a_layer():
    for module in module_files():
        layer_of(module)


def test_imports_follow_the_layers():
    edges = import_edges(module_files())
    upward = sorted(f"{a} -> {b}" for a, b in edges if layer_of(b) > layer_of(a))
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycle():
    cycle = find_cycle(import_edges(module_files()))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_checks_see_cycles_and_upward_imports():
    assert find_cycle({("a", "b"), ("b", "c"), ("c", "a")}) == ["a", "b", "c", "a"]
    assert find_cycle({("a", "b"), ("b", "c")}) is None
    assert layer_of("leanamp.cli.core") > layer_of("leanamp.models.lstm")


def test_modules_are_short_or_say_why():
    long = []
    for module, path in module_files().items():
        lines = path.read_text().splitlines()
        reason = any(line.startswith("# long:") for line in lines[:3])
        if len(lines) > MAX_MODULE_LINES and not reason:
            long.append(f"{module}: {len(lines)} lines")
    assert not long, "over 500 lines without '# long: why' at the top:\n" + "\n".join(long)


def test_cli_commands_are_thin():
    """Each command's body parses, calls one API function and prints: at most 40 lines."""
    fat = []
    for module, path in module_files().items():
        if not module.startswith("leanamp.cli"):
            continue
        for node in ast.parse(path.read_text()).body:
            decorators = [ast.unparse(d) for d in getattr(node, "decorator_list", [])]
            if not any("command" in d for d in decorators):
                continue
            # The body after the docstring: the option declarations of the signature are the
            # parsing typer does, and the docstring is the --help text.
            body = node.body[1:] if ast.get_docstring(node) else node.body
            length = node.end_lineno - body[0].lineno + 1
            if length > MAX_COMMAND_LINES:
                fat.append(f"{module}.{node.name}: {length} lines")
    assert not fat, "CLI commands over 40 lines (move the policy into the API):\n" + "\n".join(fat)
