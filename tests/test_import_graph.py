"""asdcore's modules import each other in one direction only: no import cycle, not even through an
import written inside a function (which Python resolves late, so a cycle there only shows up as
code that is hard to follow and easy to break)."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "asdcore"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    parts = list(path.relative_to(package.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the asdcore modules it imports anywhere in its source (module level or inside
    functions); `from .x import name` counts as importing .x.name when that is a module, else .x."""
    modules = {module_name(p, package): p for p in package.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        # the package a relative import starts from: the module's own package
        here = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[:len(here) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    deps.add(sub if sub in modules else target)
            elif isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
        graph[name] = {d for d in deps if d in modules and d != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    package = tmp_path / "asdcore"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    from .a import g\n")
    (package / "c.py").write_text("from . import a\n")
    assert cycles(import_graph(package)) == [["asdcore.a", "asdcore.b"]]


def test_asdcore_has_no_import_cycle():
    graph = import_graph()
    assert {"asdcore.training.loop", "asdcore.evaluation.evaluate", "asdcore.jobs.pipeline", "asdcore.cli"} <= set(graph)
    assert cycles(graph) == []


def test_the_packages_import_in_one_direction():
    """jobs runs training, then evaluation; training and evaluation are leaves that import neither
    each other nor jobs, and the run-folder module (asdcore.runs) imports none of the three."""
    graph = import_graph()

    def imports_of(package: str) -> set:
        return {target for module, targets in graph.items() if module.startswith(package + ".")
                for target in targets}

    assert {"asdcore.training.loop", "asdcore.evaluation.evaluate"} <= graph["asdcore.jobs.pipeline"]
    assert not {t for t in imports_of("asdcore.training") if t.startswith(("asdcore.evaluation", "asdcore.jobs"))}
    assert not {t for t in imports_of("asdcore.evaluation") if t.startswith(("asdcore.training", "asdcore.jobs"))}
    assert not {t for t in graph["asdcore.runs"] if t.startswith(("asdcore.training", "asdcore.evaluation",
                                                                  "asdcore.jobs"))}
