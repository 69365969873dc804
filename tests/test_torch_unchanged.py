"""torch code runs unchanged on course_lib: snippets run twice, once with `torch` naming torch and once with `torch`
naming course_lib (the import lines of a snippet included: `import torch` becomes `import course_lib as torch`), and
what they print must be the same once `torch.` is spelled `course_lib.`.

Two sources of snippets: the examples in the docstrings of torch's own public API (read from the installed torch, so
they are torch's words, not ours), for every function course_lib mirrors; and every code cell of chapter 0, the course's
tour of PyTorch. Examples that draw random numbers are left out (the two libraries have different generators); so are
the few statements listed in SKIP, each with its reason."""
import contextlib
import doctest
import io
import json
import math
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import course_lib as cl

ROOT = Path(__file__).resolve().parents[1]
# random numbers the two libraries cannot share (their own generators, uninitialized memory): examples using them are left out
RANDOM = re.compile(r"\b(normal|new_empty|bernoulli|multinomial|random_|uniform_|normal_|exponential_|Generator|seed|"
                    r"initial_seed|get_rng_state|rand_like|randn_like|randint_like)\b")


class Seeded:
    """A library whose random factories (randn, rand, randint, randperm; manual_seed reseeds) draw from one NumPy stream,
    the same for both libraries, so that examples with random inputs print the same numbers; `empty` is zeros. Every
    other name is the library's own."""
    def __init__(self, lib): self._lib, self._rng = lib, np.random.default_rng(0)
    def __getattr__(self, name): return getattr(self._lib, name)
    def _size(self, size, kw):
        size = kw.pop("size", size)
        return tuple(size[0]) if len(size) == 1 and isinstance(size[0], (tuple, list, torch.Size, cl.Size)) else tuple(size)
    def _make(self, a, kw, floating=True):
        dtype, rg = kw.pop("dtype", None), kw.pop("requires_grad", False)
        kw.pop("generator", None)
        t = self._lib.tensor(a, dtype=dtype or (self._lib.get_default_dtype() if floating else self._lib.int64), **kw)
        return t.requires_grad_(rg) if rg else t
    def manual_seed(self, seed): self._rng = np.random.default_rng(seed)
    def randn(self, *size, **kw): return self._make(self._rng.standard_normal(self._size(size, kw)), kw)
    def rand(self, *size, **kw): return self._make(self._rng.random(self._size(size, kw)), kw)
    def empty(self, *size, **kw): return self._make(np.zeros(self._size(size, kw)), kw)
    def randperm(self, n, **kw): return self._make(self._rng.permutation(n), kw, floating=False)
    def randint(self, low, high=None, size=None, **kw):
        if size is None: low, high, size = 0, low, high
        return self._make(self._rng.integers(low, high, size), kw, floating=False)

# the functions whose docstring examples must run unchanged (those with deterministic examples)
DOCUMENTED = """
abs add addmm allclose amax amin argmax argmin atan2 bmm cos cosh dot exp2 expm1 gather log log10 log1p log2 matmul mean mm mv pow reciprocal round rsqrt sigmoid sin sinh softmax sqrt square stack sum tanh transpose trunc t permute max min where clone numel is_floating_point acos asin atan ceil neg count_nonzero any all median std_mean var_mean arange argsort argwhere as_tensor broadcast_shapes broadcast_to cat chunk clamp cross cumprod cumsum diag
diagonal diff div dot dstack einsum equal erf exp eye flatten flip floor frac from_numpy full gather hstack index_select
isclose isfinite isinf isnan is_tensor kthvalue linspace logspace masked_select maximum meshgrid minimum mode movedim
nan_to_num narrow nonzero norm ones outer promote_types prod repeat_interleave reshape result_type roll sign sort split
squeeze std sub swapaxes take_along_dim tile topk trace tril triu unbind unique unsqueeze var vstack zeros
Tensor.repeat Tensor.scatter_ Tensor.scatter_add_ Tensor.index_add_ Tensor.new_ones Tensor.new_zeros Tensor.new_full
Tensor.new_tensor Tensor.expand Tensor.item Tensor.element_size Tensor.stride Tensor.register_hook Tensor.requires_grad_
linalg.norm linalg.vector_norm linalg.matrix_norm nn.functional.one_hot
enable_grad set_grad_enabled inference_mode get_default_dtype
""".split()

# statements left out, by (name, the start of the statement): why
SKIP = {
    ("kthvalue", "x=torch.arange(1.,7.).resize_(2,3)"): "resize_ (storage resizing) is not part of course_lib",
    ("meshgrid", "torch.equal(torch.cat(tuple(torch.dstack"): "cartesian_prod is not part of course_lib",
    ("meshgrid", "ax.plot_surface"): "matplotlib's return value prints its own address",
    ("meshgrid", "fig = plt.figure()"): "a figure",
    ("meshgrid", "ax = fig.add_subplot"): "a figure",
    ("linalg.norm", "LA.norm(B, 2)"): "the spectral norm needs singular values (no SVD in course_lib)",
    ("linalg.norm", "LA.norm(B.double(), -2)"): "the spectral norm needs singular values (no SVD in course_lib)",
    ("Tensor.scatter_", "torch.full((2, 4), 2.).scatter_(1, torch.tensor([[2], [3]]),"): "scatter's deprecated reduce= is not supported",
    ("is_floating_point", "torch.is_floating_point(torch.tensor([1, 2, 3], dtype=torch.complex64))"): "no complex dtypes",
    ("sort", "x.sort()"): "the order of ties in torch's default (unstable) sort is its kernel's; ours is stable (x.sort(stable=True) is compared)",
    ("inference_mode", "y._version"): "course_lib's inference_mode makes ordinary tensors (no separate inference tensors)",
}


def _source_for(lib, source, seeded=False):
    "The one change: `torch` names course_lib, in import lines too (a snippet's `import torch` is kept off the Seeded stand-in)."
    if seeded: source = re.sub(r"^(\s*)import torch\b(?!\.)(.*)$", r"\1pass", source, flags=re.M)
    if lib is torch: return source
    source = re.sub(r"^(\s*)import torch\b(?!\.)", r"\1import course_lib as torch", source, flags=re.M)
    return re.sub(r"^(\s*)from torch((\.\w+)*) import", r"\1from course_lib\2 import", source, flags=re.M)


@contextlib.contextmanager
def _global_state_kept(lib):
    "Examples switch grad mode and the default dtype (set_grad_enabled's, set_default_dtype's): put them back afterwards."
    grad, dtype = lib.is_grad_enabled(), lib.get_default_dtype()
    try: yield
    finally:
        lib.set_grad_enabled(grad)
        lib.set_default_dtype(dtype)


def run_statements(statements, lib):
    "Run each statement (as an interactive line: expressions print their repr) with `torch` = lib; what each printed."
    with _global_state_kept(lib): return _run_statements(statements, lib)


def _run_statements(statements, lib):
    ns = {"torch": Seeded(lib), "np": np, "math": math, "__name__": "__snippet__"}
    outs = []
    for s in statements:
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                exec(compile(_source_for(lib, s, seeded=True), "<snippet>", "single"), ns)
            out = buf.getvalue()
        except Exception as e:
            out = buf.getvalue() + f"raised {type(e).__name__}: {e}"
        outs.append(out.replace("torch.", "course_lib.") if lib is torch else out)
    return outs


def doc_examples(name):
    doc = eval(f"torch.{name}").__doc__ or ""
    return doctest.DocTestParser().get_examples(doc)


def _deterministic(name):
    "Has torch.name's docstring examples, none drawing random numbers (those cannot match: the generators differ)?"
    statements = [e.source for e in doc_examples(name)]
    return bool(statements) and not RANDOM.search("\n".join(statements))


def doc_examples(name):
    doc = eval(f"torch.{name}").__doc__ or ""
    return doctest.DocTestParser().get_examples(doc)


RUNNABLE = [n for n in DOCUMENTED if _deterministic(n)]


@pytest.mark.parametrize("name", RUNNABLE)
def test_torch_docstring_examples_run_unchanged(name):
    statements = [e.source for e in doc_examples(name)]
    kept = [s for s in statements if not any(k[0] == name and s.strip().startswith(k[1]) for k in SKIP)]
    theirs, ours = run_statements(kept, torch), run_statements(kept, cl)
    for s, t, c in zip(kept, theirs, ours):
        assert c == t, f"torch.{name}: {s.strip()!r}\n  torch printed:      {t!r}\n  course_lib printed: {c!r}"


def test_every_documented_name_exists_in_course_lib():
    missing = [n for n in DOCUMENTED if not _has(cl, n)]
    assert not missing, missing


def _has(mod, dotted):
    for part in dotted.split("."):
        if not hasattr(mod, part): return False
        mod = getattr(mod, part)
    return True


# ----------------------------------------------------------------------------------------------------------
# chapter 0, cell by cell
# ----------------------------------------------------------------------------------------------------------
CHAPTER0_SKIP = {
    "02fb2c9c": "the Colab install cell",
    "503760eb": "torch.rand: the generators differ",
    "26bbcea0": "nn.Linear's random initial weights",
    "622eb810": "random data and random initial weights",
    "736e4671": "matplotlib",
    "5912f54d": "a figure",
    "27877651": "the device depends on the machine",
}


def chapter0_cells():
    nb = json.loads((ROOT / "nbs" / "00_pytorch_basics.ipynb").read_text())
    return [c for c in nb["cells"] if c["cell_type"] == "code" and c.get("id") not in CHAPTER0_SKIP]


def run_cells(cells, lib):
    "Run the cells in order, as Jupyter does: each cell's printed output and the repr of its last expression."
    with _global_state_kept(lib): return _run_cells(cells, lib)


def _run_cells(cells, lib):
    ns = {"__name__": "__main__"}
    outs = []
    for c in cells:
        src = _source_for(lib, "".join(c["source"]))
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import ast
                tree = ast.parse(src)
                last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
                exec(compile(tree, "<cell>", "exec"), ns)
                if last is not None:
                    value = eval(compile(ast.Expression(last.value), "<cell>", "eval"), ns)
                    if value is not None: print(repr(value))
            out = buf.getvalue()
        except Exception as e:
            out = buf.getvalue() + f"raised {type(e).__name__}: {e}"
        outs.append(out.replace("torch.", "course_lib.") if lib is torch else out)
    return outs


def _addresses(s): return re.sub(r"0x[0-9a-f]+", "0x…", s)


def test_chapter0_runs_unchanged_and_prints_the_same():
    cells = chapter0_cells()
    theirs, ours = run_cells(cells, torch), run_cells(cells, cl)
    assert len(cells) >= 20
    for c, t, o in zip(cells, theirs, ours):
        t, o = _addresses(t), _addresses(o)
        # the types print as their modules name them: <class 'torch.Tensor'> / <class 'course_lib._tensor.Tensor'>
        o = o.replace("course_lib._tensor.Tensor", "course_lib.Tensor")
        # a deliberate addition: our broadcasting error also names the op and both shapes (README, deliberate differences)
        o = re.sub(r" \((\w+: )?shapes [^\n]*\)$", "", o, flags=re.M)
        assert o == t, f"chapter 0 cell {c['id']}: {''.join(c['source'])[:80]!r}\n  torch:      {t!r}\n  course_lib: {o!r}"


def test_docstring_and_chapter0_case_count():
    "How many snippets this suite runs: reported by the test, a floor so that the suite cannot silently shrink."
    statements = sum(len(doc_examples(n)) for n in RUNNABLE)
    assert len(RUNNABLE) >= 130 and statements >= 600 and len(chapter0_cells()) >= 20, (len(RUNNABLE), statements, len(chapter0_cells()))


def test_the_examples_leave_grad_mode_and_the_default_dtype_alone():
    run_statements([e.source for e in doc_examples("set_grad_enabled")] + [e.source for e in doc_examples("set_default_dtype")], cl)
    assert cl.is_grad_enabled() and cl.get_default_dtype() is cl.float32
