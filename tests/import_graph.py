"""matcher's imports walked by AST: the module graph, its import circles (strongly connected
components) and the imports made inside functions.

Every ``import`` counts, the ones inside functions too; only those under ``if TYPE_CHECKING:``
are left out (they never run). ``python -m tests.import_graph`` prints the figures.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # what it names, dotted (a module, or a module's attribute)
    line: int
    in_function: bool


def module_files(root: Path = ROOT, package: str = "matcher") -> dict[str, Path]:
    """Dotted module name -> file, migrations aside (Alembic loads them by path)."""
    out = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if "migrations" in parts:
            continue
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def imports_of(module: str, path: Path, type_checking: bool = False) -> list[Import]:
    """The imports of one file; ``type_checking``: those under ``if TYPE_CHECKING:`` too."""
    tree = ast.parse(path.read_text(), str(path))
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found: list[Import] = []

    def walk(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if not type_checking and isinstance(child, ast.If) and _type_checking(child.test):
                for stmt in child.orelse:
                    walk_one(stmt, in_function)
                continue
            walk_one(child, in_function)

    def walk_one(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno, in_function) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package[: len(package) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            found.extend(Import(module, base if alias.name == "*" else f"{base}.{alias.name}", node.lineno, in_function) for alias in node.names)
        else:
            walk(node, in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))

    walk(tree, False)
    return found


def graph(root: Path = ROOT, package: str = "matcher", type_checking: bool = False) -> tuple[dict[str, set[str]], list[Import]]:
    """``(edges, imports)``: each module -> the package modules it imports, and every import."""
    files = module_files(root, package)
    edges: dict[str, set[str]] = {m: set() for m in files}
    everything: list[Import] = []
    for module, path in files.items():
        for imp in imports_of(module, path, type_checking):
            everything.append(imp)
            target = imp.target
            while target and target not in files:  # ``from a.b import name``: the module a.b
                target = target.rpartition(".")[0]
            if target and target != module:
                edges[module].add(target)
    return edges, everything


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def in_function_statements(imports: list[Import]) -> dict[tuple[str, int], list[str]]:
    """(module, line) -> the names of each import statement made inside a function."""
    out: dict[tuple[str, int], list[str]] = {}
    for imp in imports:
        if imp.in_function:
            out.setdefault((imp.module, imp.line), []).append(imp.target)
    return dict(sorted(out.items()))


def main() -> None:
    root = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else ROOT
    edges, imports = graph(root)
    found = circles(edges)
    print(f"modules: {len(edges)}, imports between them: {sum(map(len, edges.values()))}")
    print(f"import circles: {len(found)}, modules in them: {sum(map(len, found))}")
    for circle in found:
        print("  ", " ".join(circle))
    with_tc = circles(graph(root, type_checking=True)[0])
    print(f"with TYPE_CHECKING imports: {len(with_tc)} circles, {sum(map(len, with_tc))} modules")
    statements = in_function_statements(imports)
    print(f"in-function import statements: {len(statements)}")
    for (module, line), names in statements.items():
        print(f"   {module}:{line}  {', '.join(names)}")


if __name__ == "__main__":
    main()
