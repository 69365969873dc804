"""Type hints on the public API: every public function, Tensor method and property, the public classes'
constructors and the modules' `forward` say what they take and return, the hints resolve, and an editor
(jedi, which JupyterLab's completion uses) completes on chained calls such as `cl.zeros(3).sum().`."""
import importlib, inspect, typing
import pytest
import course_lib as cl

MODULES = ["course_lib", "course_lib.nn.functional", "course_lib.nn.init", "course_lib.nn.utils", "course_lib.linalg",
           "course_lib.autograd", "course_lib.cuda", "course_lib.accelerator",
           "course_lib.optim", "course_lib.optim.lr_scheduler", "course_lib.utils.data", "course_lib.nn",
           "course_lib.serialization", "course_lib.backends.mps"]
SKIP_PARAMS = {"self", "cls", "ctx"}
# Left without hints, each with its reason:
EXEMPT = {
    "course_lib.Tensor.__init__": "the internal constructor (data is an array); users call course_lib.tensor",
}


def _public(mod):
    m = importlib.import_module(mod)
    for name in getattr(m, "__all__", None) or [n for n in dir(m) if not n.startswith("_")]:
        obj = getattr(m, name, None)
        if obj is None or inspect.ismodule(obj): continue
        if not (getattr(obj, "__module__", "") or "").startswith("course_lib"): continue
        yield f"{mod}.{name}", obj


def _callables():
    "(qualified name, function) for everything the public API exposes."
    seen = {}
    for mod in MODULES:
        for qn, obj in _public(mod):
            if inspect.isfunction(obj): seen.setdefault(id(obj), (qn, obj))
            elif inspect.isclass(obj):
                for meth in ("__init__", "forward", "step", "zero_grad", "__getitem__", "__len__", "__iter__"):
                    f = obj.__dict__.get(meth)
                    if inspect.isfunction(f): seen.setdefault(id(f), (f"{qn}.{meth}", f))
                    elif isinstance(f, staticmethod): pass  # a Function's forward/backward: array level
    for name, v in vars(cl.Tensor).items():
        if name.startswith("_") and not name in ("__init__",): continue
        if isinstance(v, property): v = v.fget
        if inspect.isfunction(v): seen.setdefault(id(v), (f"course_lib.Tensor.{name}", v))
    return sorted(seen.values(), key=lambda t: t[0])


CALLABLES = [c for c in _callables() if c[0] not in EXEMPT]


def _missing(fn):
    fn = inspect.unwrap(fn)
    sig = inspect.signature(fn)
    ann = fn.__annotations__
    miss = [p for p in sig.parameters if p not in SKIP_PARAMS and p not in ann]
    if fn.__name__ != "__init__" and "return" not in ann: miss.append("return")
    return miss


@pytest.mark.parametrize("name,fn", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_hinted(name, fn):
    miss = _missing(fn)
    assert not miss, f"{name}{inspect.signature(fn)}: no hint for {', '.join(miss)}"


@pytest.mark.parametrize("name,fn", CALLABLES, ids=[c[0] for c in CALLABLES])
def test_hints_resolve(name, fn):
    typing.get_type_hints(inspect.unwrap(fn))   # a misspelt or missing name raises NameError here


def test_exempt_names_exist():
    names = {c[0] for c in _callables()}
    assert set(EXEMPT) <= names, set(EXEMPT) - names


@pytest.mark.parametrize("code,want", [
    ("cl.zeros(3).su", "sum"), ("cl.tensor([1.0]).sum().ite", "item"), ("cl.randn(2, 3).t().resh", "reshape"),
    ("(cl.ones(2) @ cl.ones(2)).backwa", "backward"), ("cl.nn.functional.relu(cl.ones(2)).ma", "max"),
    ("cl.nn.Linear(2, 3)(cl.ones(2)).mea", "mean"), ("cl.nn.Linear(2, 3).weight.gr", "grad"),
])
def test_completion_on_chains(code, want):
    jedi = pytest.importorskip("jedi", reason="jedi (JupyterLab's completer) is not installed")
    names = [c.name for c in jedi.Interpreter(code, [dict(cl=cl)]).complete()]
    assert want in names, f"{code!r} completes to {names[:10]}"


def test_backward_documents_its_arguments():
    from fastcore.docments import docments
    doc = docments(cl.Tensor.backward)
    for arg in ("gradient", "retain_graph", "create_graph", "inputs"):
        assert doc.get(arg), f"Tensor.backward's {arg} is undocumented"
