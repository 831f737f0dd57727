"""Dependencies run one way: every import of every module against inrv_jax/layering.py, and
no import circle, function-level imports included."""

import ast
import pathlib

import pytest

import inrv_jax
from inrv_jax import layering

PACKAGE = pathlib.Path(inrv_jax.__file__).parent


def module_name(path: pathlib.Path, package: pathlib.Path = PACKAGE) -> str:
  parts = path.relative_to(package.parent).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def parse(path: pathlib.Path) -> ast.Module:
  """The file's syntax tree. CPython 3.11 keeps the depth counter of its syntax-tree
  constructor per interpreter, not per thread, so a parse that overlaps one in a
  thread an earlier test left running can fail with a spurious "AST constructor
  recursion depth mismatch" SystemError (python/cpython#106905 is one such path); it is
  parsed once more then."""
  source = path.read_text()
  try:
    return ast.parse(source, str(path))
  except SystemError:
    return ast.parse(source, str(path))


def imports(path: pathlib.Path, package: pathlib.Path = PACKAGE) -> list[tuple[int, str]]:
  """(line, module) of every import in the file, function-level ones included.

  `from a import b` counts as importing a.b when a/b is a module or package, else a.
  """
  found = []
  for node in ast.walk(parse(path)):
    if isinstance(node, ast.Import):
      found += [(node.lineno, alias.name) for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
      assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
      for alias in node.names:
        candidate = package.parent.joinpath(*f"{node.module}.{alias.name}".split("."))
        is_module = candidate.with_suffix(".py").is_file() or candidate.is_dir()
        found.append((node.lineno, f"{node.module}.{alias.name}" if is_module else node.module))
  return found


def upward_edges(paths, package: pathlib.Path = PACKAGE) -> list[str]:
  """One line per import of a module from a higher layer; `paths` lie under `package`."""
  edges = []
  for path in paths:
    here = layering.layer_of(module_name(path, package))
    for line, target in imports(path):
      there = layering.layer_of(target)
      if there is not None and there > here:
        edges.append(f"{path.relative_to(package.parent)}:{line}: layer {here} imports "
                     f"{target} (layer {there})")
  return edges


def import_graph(paths, package: pathlib.Path = PACKAGE) -> dict[str, set[str]]:
  """Module -> the modules of the package it imports, function-level imports included.

  Only the modules an import names: a package's __init__ that Python runs on the way is
  no edge (inrv_jax/__init__.py imports its public API lazily, at first use).
  """
  graph = {}
  for path in paths:
    name = module_name(path, package)
    graph[name] = {target for _, target in imports(path, package)
                   if target.split(".")[0] == package.name}
  return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
  """The import circles of `graph`: its strongly connected components (Tarjan) of more
  than one module, or of one module that imports itself; each sorted."""
  index, low, stack, on_stack, found = {}, {}, [], set(), []

  def visit(module):
    index[module] = low[module] = len(index)
    stack.append(module)
    on_stack.add(module)
    for target in graph.get(module, ()):
      if target not in index and target in graph:
        visit(target)
        low[module] = min(low[module], low[target])
      elif target in on_stack:
        low[module] = min(low[module], index[target])
    if low[module] == index[module]:
      component = []
      while not component or component[-1] != module:
        component.append(stack.pop())
        on_stack.discard(component[-1])
      if len(component) > 1 or module in graph[module]:
        found.append(sorted(component))

  for module in sorted(graph):
    if module not in index:
      visit(module)
  return found


def test_no_import_circle_anywhere_in_the_package():
  graph = import_graph(sorted(PACKAGE.rglob("*.py")))
  assert len(graph) > 40 and sum(map(len, graph.values())) > 100
  assert circles(graph) == []


def test_a_circle_through_a_function_level_import_is_found(tmp_path):
  package = tmp_path / "inrv_jax"
  (package / "tasks").mkdir(parents=True)
  (package / "tasks" / "cli.py").write_text("from inrv_jax.tasks import evaluate\n")
  (package / "tasks" / "evaluate.py").write_text(
      "import numpy\n\ndef f():\n  from inrv_jax.tasks.cli import helper\n  return helper\n")
  (package / "tasks" / "masks.py").write_text("from inrv_jax.tasks import evaluate\n")
  graph = import_graph(sorted(package.rglob("*.py")), package)
  assert graph["inrv_jax.tasks.evaluate"] == {"inrv_jax.tasks.cli"}
  assert circles(graph) == [["inrv_jax.tasks.cli", "inrv_jax.tasks.evaluate"]]


def test_no_module_imports_a_layer_above_its_own():
  paths = sorted(PACKAGE.rglob("*.py"))
  assert len(paths) > 40
  assert upward_edges(paths) == []


def test_every_module_is_in_a_layer():
  for path in PACKAGE.rglob("*.py"):
    layering.layer_of(module_name(path))  # raises KeyError for a module of no layer


def test_an_upward_import_is_found_even_inside_a_function(tmp_path):
  models = tmp_path / "inrv_jax" / "models"
  models.mkdir(parents=True)
  bad = models / "bad.py"
  bad.write_text("import numpy\n\ndef f():\n  from inrv_jax.training import train\n"
                 "  from configs import quickstart\n  return train, quickstart\n")
  edges = upward_edges([bad], tmp_path / "inrv_jax")
  assert len(edges) == 2 and "imports inrv_jax.training.train (layer 5)" in edges[0]
  assert "imports configs.quickstart" in edges[1]


def test_a_module_of_no_layer_is_an_error():
  with pytest.raises(KeyError, match="inrv_jax.newthing is in no layer"):
    layering.layer_of("inrv_jax.newthing.x")
