"""Imports run one way between the project's packages, never in a cycle, never into a CLI.

The rules (BUILD.md, "Layout and layering"), checked on the source with `ast` -- every import
statement counts, including those inside functions, where a cycle or a wrong-way import hides:

* layers: `launch` may import `tasks`, `pipeline` and `model`; `tasks` may import `pipeline`;
  `pipeline` and `model` import none of the other three;
* no cycle between project modules (a package counts as its `__init__` module);
* CLI modules are entry points, never libraries: a module is a CLI module when it defines a
  top-level `main()` or has an `if __name__ == "__main__":` block, and no project module imports a
  CLI module (shared code goes into a library module both import). The few exceptions are listed
  in ALLOWED_CLI_IMPORTS with the reason.
"""

from __future__ import annotations

import ast
import dataclasses
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "tasks", "model", "launch")
MAY_IMPORT = {
    "launch": {"launch", "tasks", "pipeline", "model"},
    "tasks": {"tasks", "pipeline"},
    "pipeline": {"pipeline"},
    "model": {"model"},
}
# (importer, CLI module) pairs that are allowed, each with its reason.
ALLOWED_CLI_IMPORTS: dict[tuple[str, str], str] = {}


@dataclasses.dataclass
class Module:
    name: str
    path: pathlib.Path
    is_cli: bool
    imports: dict[str, int]  # imported project module -> line of the first such import


def _module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_cli(tree: ast.Module) -> bool:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "main":
            return True
        if isinstance(node, ast.If) and "__main__" in ast.unparse(node.test) \
                and "__name__" in ast.unparse(node.test):
            return True
    return False


def _imported(name: str, path: pathlib.Path, tree: ast.Module, known: set[str]) -> dict[str, int]:
    """Project modules imported anywhere in the file: `import a.b` and `from a import b` both
    count `a.b` when it is a module (else `a`); relative imports are resolved."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: dict[str, int] = {}

    def add(module: str, line: int) -> None:
        while module and module not in known:  # `import a.b.func` style: the longest module
            module = module.rpartition(".")[0]
        if module and module != name:
            found.setdefault(module, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[:len(package) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}"
                add(full if full in known else source, node.lineno)
    return found


def project_modules() -> dict[str, Module]:
    paths = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            paths[_module_name(path)] = path
    known = set(paths)
    modules = {}
    for name, path in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        modules[name] = Module(name, path, _is_cli(tree), _imported(name, path, tree, known))
    return modules


def layer_violations(modules: dict[str, Module]) -> list[str]:
    out = []
    for mod in modules.values():
        layer = mod.name.split(".")[0]
        for target, line in mod.imports.items():
            if target.split(".")[0] not in MAY_IMPORT[layer]:
                out.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} imports {target} "
                           f"({layer} may import only {sorted(MAY_IMPORT[layer])})")
    return out


def cli_imports(modules: dict[str, Module]) -> list[str]:
    out = []
    for mod in modules.values():
        for target, line in mod.imports.items():
            if modules[target].is_cli and (mod.name, target) not in ALLOWED_CLI_IMPORTS:
                out.append(f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} imports the CLI "
                           f"module {target}; move what it needs into a library module")
    return out


def import_cycles(modules: dict[str, Module]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []

    def visit(name: str) -> None:
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in sorted(modules[name].imports):
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for name in sorted(modules):
        if name not in index:
            visit(name)
    return components


# The checks, tried on made-up modules first so that each can be seen failing.

def _fake(graph: dict[str, list[str]], cli: tuple[str, ...] = ()) -> dict[str, Module]:
    return {n: Module(n, ROOT / (n.replace(".", "/") + ".py"), n in cli, {t: 1 for t in ts})
            for n, ts in graph.items()}


def test_the_checks_catch_what_they_are_for():
    bad = _fake({"pipeline.a": ["tasks.b"], "tasks.b": ["pipeline.a", "tasks.c"],
                 "tasks.c": ["tasks.b"], "launch.d": ["launch.e"], "launch.e": [],
                 "model.f": ["launch.e"]}, cli=("launch.e",))
    assert any("pipeline.a imports tasks.b" in v for v in layer_violations(bad))
    assert any("model.f imports launch.e" in v for v in layer_violations(bad))
    assert import_cycles(bad) == [["pipeline.a", "tasks.b", "tasks.c"]]
    assert len(cli_imports(bad)) == 2  # launch.d and model.f import the CLI launch.e
    good = _fake({"launch.d": ["tasks.b", "model.f"], "tasks.b": ["pipeline.a"],
                  "pipeline.a": [], "model.f": []})
    assert not layer_violations(good) and not import_cycles(good) and not cli_imports(good)


def test_imports_inside_functions_and_relative_imports_are_seen(tmp_path):
    source = "def f():\n    from . import spec\n    import launch.plan\n"
    tree = ast.parse(source)
    known = {"pipeline", "pipeline.spec", "pipeline.x", "launch", "launch.plan"}
    assert _imported("pipeline.x", ROOT / "pipeline/x.py", tree, known) == {
        "pipeline.spec": 2, "launch.plan": 3}


def test_each_rule_comment_sits_on_its_rule():
    """A comment above the rules (MAY_IMPORT, ALLOWED_CLI_IMPORTS) is followed by the statement
    it describes, never by a blank line: a heading with nothing under it says the file checks
    something it does not."""
    lines = pathlib.Path(__file__).read_text().split("\n")
    end = next(i for i, line in enumerate(lines) if line.startswith("@dataclasses.dataclass"))
    start = next(i for i, line in enumerate(lines) if line.startswith("MAY_IMPORT"))
    orphans = [i + 1 for i in range(start, end - 1)
               if lines[i].startswith("#") and not lines[i + 1].strip()]
    assert not orphans, f"comments with nothing under them at lines {orphans}"


@pytest.fixture(scope="module")
def modules():
    return project_modules()


def test_every_package_is_scanned(modules):
    assert {m.split(".")[0] for m in modules} == set(PACKAGES)
    assert modules["launch.train"].is_cli and not modules["model.network"].is_cli


def test_imports_follow_the_layers(modules):
    violations = layer_violations(modules)
    assert not violations, "imports against the layers:\n" + "\n".join(violations)


def test_no_module_imports_a_cli_module(modules):
    violations = cli_imports(modules)
    assert not violations, "imports of CLI modules:\n" + "\n".join(violations)


def test_no_import_cycles(modules):
    cycles = import_cycles(modules)
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)

