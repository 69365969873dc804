"""One home per op: the library's structure, checked.

- every public `Tensor` method (and every operator we define) is a real function with torch's name and a docstring;
- no name is bound twice: each `Tensor` attribute is bound in exactly one place, no module assigns attributes of
  `Tensor` except through `tensor_method`, and no two modules put the same name into `course_lib`;
- `course_lib`'s namespace is torch's: no `Function` subclass, no name torch lacks (plus `draw`, `gradcheck`, `check`);
- no exported module imports a module of a later chapter.
"""
import ast, inspect, re, types
from collections import defaultdict
from pathlib import Path

import pytest
import course_lib as cl
from course_lib import autograd

ROOT = Path(__file__).resolve().parents[1]
LIB = ROOT / "course_lib"
MODULES = sorted(p for p in LIB.rglob("*.py") if p.name != "_modidx.py" and "__pycache__" not in p.parts)
COURSE_OWN = {"draw", "gradcheck", "check"}   # the course's own names beside torch's


def _tensor_members():
    "Attributes `Tensor` defines itself (not inherited from object), with the underlying function."
    for name, v in vars(cl.Tensor).items():
        if name in ("__module__", "__qualname__", "__doc__", "__slots__", "__dict__", "__weakref__", "__init__",
                    "__hash__", "__array_ufunc__", "__firstlineno__", "__static_attributes__") or name in cl.Tensor.__slots__:
            continue
        yield name, v


@pytest.mark.parametrize("name", sorted(n for n, _ in _tensor_members()))
def test_every_tensor_method_has_its_name_and_a_docstring(name):
    v = vars(cl.Tensor)[name]
    fn = v.fget if isinstance(v, property) else v
    assert isinstance(fn, types.FunctionType), f"Tensor.{name} is {type(v).__name__}, not a function or property"
    assert fn.__name__ != "<lambda>", f"Tensor.{name} is a lambda"
    if not isinstance(v, property):
        assert fn.__name__ == name, f"Tensor.{name}.__name__ is {fn.__name__!r}"
        assert fn.__code__.co_name == name, f"tracebacks through Tensor.{name} would say {fn.__code__.co_name!r}"
    assert fn.__doc__ and fn.__doc__.strip(), f"Tensor.{name} has no docstring"


def _tree(path): return ast.parse(path.read_text(), filename=str(path))


def _bindings(path):
    "Names this module binds on Tensor: `@tensor_method(...)` names, class-body defs, and any direct assignment."
    names, direct = [], []
    for node in ast.walk(_tree(path)):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "id", None) == "tensor_method":
                    names += [a.value for a in d.args] or [node.name]
            if isinstance(node, ast.ClassDef) and node.name == "Tensor":
                names += sorted({b.name for b in node.body if isinstance(b, ast.FunctionDef)})   # a property's setter shares its name
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            for t in getattr(node, "targets", [getattr(node, "target", None)]):
                if isinstance(t, ast.Attribute) and getattr(t.value, "id", None) == "Tensor": direct.append(t.attr)
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setattr" and node.args \
                and getattr(node.args[0], "id", None) == "Tensor" and path.name != "_tensor.py":
            direct.append(ast.unparse(node))
    return names, direct


def test_no_tensor_attribute_is_bound_twice_or_outside_tensor_method():
    homes, direct = defaultdict(list), {}
    for p in MODULES:
        names, d = _bindings(p)
        for n in names: homes[n].append(p.relative_to(LIB).as_posix())
        if d: direct[p.relative_to(LIB).as_posix()] = d
    assert not direct, f"Tensor attributes assigned outside tensor_method: {direct}"
    twice = {n: m for n, m in homes.items() if len(m) > 1}
    assert not twice, f"bound in more than one place: {twice}"


def _star_imported():
    "The modules whose `__all__` the front door (`course_lib/__init__.py`) puts into `course_lib`."
    src = (LIB / "__init__.py").read_text()
    return sorted(set(re.findall(r"from \.(\w+) import \*", src)) | set(re.findall(r'"(_\w+)"', src)))


def test_no_name_is_exported_by_two_modules_into_course_lib():
    owners = defaultdict(list)
    for stem in _star_imported():
        mod = __import__(f"course_lib.{stem}", fromlist=["_"])
        for n in getattr(mod, "__all__", []): owners[n].append(stem)
    assert len(owners) > 50, f"the front door star-imports too few names: {sorted(owners)}"
    twice = {n: m for n, m in owners.items() if len(m) > 1}
    assert not twice, f"the same public name in two modules: {twice}"


def test_course_lib_has_no_function_classes():
    found = [n for n in dir(cl) if isinstance(getattr(cl, n), type) and issubclass(getattr(cl, n), autograd.Function)]
    assert not found, f"Function subclasses in course_lib's namespace (torch has no torch.Tanh): {found}"
    assert cl.autograd.Function is autograd.Function and not hasattr(cl, "Function")


def test_course_lib_names_are_torchs():
    torch = pytest.importorskip("torch", reason="torch is needed to compare namespaces")
    extra = sorted(n for n in dir(cl) if not n.startswith("_") and not hasattr(torch, n) and n not in COURSE_OWN)
    assert not extra, f"course_lib has names torch lacks: {extra}"


def _chapter(path):
    "The chapter number of the notebook a module is exported from (index: None, the front door)."
    m = re.search(r"File to edit: [./]*nbs/(\w+)\.ipynb", path.read_text())
    assert m, f"{path} has no nbdev header"
    return None if m[1] == "index" else int(m[1].split("_")[0])


def _imported_modules(path):
    "Library modules `path` imports (relative imports resolved to files)."
    pkg = path.parent
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = pkg
            for _ in range(node.level - 1): base = base.parent
            parts = node.module.split(".") if node.module else []
            targets = [parts] if node.module else [[a.name] for a in node.names]
            for t in targets:
                f = base.joinpath(*t)
                for cand in (f.with_suffix(".py"), f / "__init__.py"):
                    if cand.exists(): yield cand; break


@pytest.mark.parametrize("path", [p for p in MODULES if _chapter(p) is not None], ids=lambda p: p.relative_to(LIB).as_posix())
def test_no_module_imports_a_later_chapter(path):
    mine = _chapter(path)
    later = [(q.relative_to(LIB).as_posix(), _chapter(q)) for q in _imported_modules(path)
             if _chapter(q) is not None and _chapter(q) > mine]
    assert not later, f"{path.relative_to(LIB)} (chapter {mine}) imports later chapters' modules: {later}"


def test_one_graph_walk():
    "backward, draw and the checkers walk the graph with the same function."
    walks = [p.relative_to(LIB).as_posix() for p in MODULES
             if re.search(r"^\s*(stack|todo)\s*=\s*\[\(", p.read_text(), re.M) and p.name != "autograd.py"]
    assert not walks, f"graph walks outside autograd._topo_order: {walks}"
    assert "_topo_order" in inspect.getsource(cl._draw.draw)
