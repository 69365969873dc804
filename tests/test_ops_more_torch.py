"""The ops issue 15 adds (chapter 4), cross-checked against torch like tests/test_ops_torch.py: each case is one expression
``fn(C, *inputs)`` evaluated with torch and with course_lib on the same numbers; torch's result is the reference for the
value, dtype, shape, requires_grad and, through ``backward`` with the same random upstream gradient, every input's ``.grad``.
Float32 and float64, every device of conftest.DEVICES. Hypothesis properties over shapes follow the table."""
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import course_lib as cl
from helpers import FLOAT_DTYPES, fixed, integers, mask, nonzero, normal, positive, run_both, seed_for, unit, paired, \
    assert_same_tensor

CASES = []


def case(name, fn, *specs, scale=1.0):
    CASES.append(pytest.param(SimpleNamespace(name=name, fn=fn, specs=specs, scale=scale), id=name))


DISTINCT = [[3.0, 1.0, 2.0, -0.5], [0.25, 5.0, 4.0, -2.0], [1.5, -1.0, 0.75, 2.5]]   # no ties: indices are unambiguous

# ----------------------------------------------------------------------------------------------------------
# sort, argsort, topk
# ----------------------------------------------------------------------------------------------------------
case("sort_last", lambda C, x: x.sort(), normal(3, 4))
case("sort_dim0_desc", lambda C, x: C.lib.sort(x, 0, descending=True), normal(3, 4))
case("sort_stable_kw", lambda C, x: x.sort(dim=1, stable=True), normal(2, 5))
case("sort_1d", lambda C, x: x.sort(), normal(6))
case("sort_3d_mid", lambda C, x: x.sort(1).values * 2, normal(2, 3, 4))
case("sort_values_times_x", lambda C, x: x.sort(0).values * x, normal(3, 4))
case("argsort", lambda C, x: x.argsort(), normal(3, 4))
case("argsort_desc_dim0", lambda C, x: C.lib.argsort(x, dim=0, descending=True), normal(3, 4))
case("topk_2", lambda C, x: x.topk(2), normal(3, 4))
case("topk_dim0_smallest", lambda C, x: C.lib.topk(x, 2, dim=0, largest=False), normal(3, 4))
case("topk_values_sum", lambda C, x: x.topk(3, dim=1).values.sum(), normal(2, 5))
case("topk_k_all", lambda C, x: x.topk(4).values, normal(3, 4))
case("topk_1d", lambda C, x: x.topk(1), normal(5))
# tril, triu
case("tril", lambda C, x: x.tril(), normal(3, 4))
case("tril_module_pos", lambda C, x: C.lib.tril(x, 1), normal(4, 4))
case("tril_neg", lambda C, x: x.tril(diagonal=-1), normal(4, 3))
case("tril_batched", lambda C, x: x.tril(), normal(2, 3, 3))
case("triu", lambda C, x: x.triu(), normal(3, 4))
case("triu_module_neg", lambda C, x: C.lib.triu(x, -1), normal(4, 4))
case("triu_batched_pos", lambda C, x: x.triu(2), normal(2, 4, 5))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_op_matches_torch(case, dtype, device):
    run_both(case.fn, case.specs, dtype, device, seed_for(case.name), scale=case.scale)


@pytest.mark.parametrize("name", ["sort", "topk"])
def test_return_type_repr_and_fields_like_torch(name):
    x = np.array(DISTINCT)
    c, t = getattr(cl.tensor(x), name)(*([2] if name == "topk" else [])), getattr(torch.tensor(x), name)(*([2] if name == "topk" else []))
    assert repr(c) == repr(t).replace("torch.", "course_lib.")
    assert type(c).__name__ == type(t).__name__ and c.values is c[0] and c.indices is c[1]


def test_sort_is_stable_like_torch_stable():
    x = np.array([2.0, 1.0, 2.0, 1.0, 3.0, 1.0])
    for desc in (False, True):
        c, t = cl.tensor(x).sort(descending=desc), torch.tensor(x).sort(descending=desc, stable=True)
        assert c.indices.tolist() == t.indices.tolist()


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_sort_integer_dtypes_like_torch(dtype):
    x = np.array([[3, 1, 2, 0], [1, 0, 1, 1]])
    c, t = paired(x, dtype=dtype)
    for desc in (False, True):
        cs, ts = c.sort(descending=desc, stable=True), t.sort(descending=desc, stable=True)
        assert_same_tensor(cs.values, ts.values)
        assert cs.indices.tolist() == ts.indices.tolist()


@pytest.mark.parametrize("call", [lambda L, x: L.topk(x, 5), lambda L, x: L.tril(x[0]), lambda L, x: L.triu(x[0, 0])])
def test_errors_like_torch(call):
    c, t = paired(np.array(DISTINCT))
    with pytest.raises(RuntimeError) as te: call(torch, t)
    with pytest.raises(RuntimeError) as ce: call(cl, c)
    assert str(ce.value) == str(te.value)


SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, data=st.data())
def test_sort_topk_properties(shape, data):
    "On random shapes: sort's values are sorted and are x gathered at the indices; topk is sort's first k; the gradient is a permutation of g."
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = cl.tensor(np.random.default_rng(len(shape)).standard_normal(shape), requires_grad=True)
    s = x.sort(dim)
    v = s.values.detach().numpy()
    assert np.all(np.diff(v, axis=dim) >= 0)
    np.testing.assert_array_equal(np.take_along_axis(x.detach().numpy(), s.indices.numpy(), dim), v)
    k = data.draw(st.integers(0, shape[dim]))
    top = x.topk(k, dim)
    np.testing.assert_array_equal(top.values.detach().numpy(), np.flip(np.take(v, range(shape[dim] - k, shape[dim]), axis=dim), dim))
    g = np.random.default_rng(0).standard_normal(shape)
    s.values.backward(cl.tensor(g))
    np.testing.assert_allclose(np.sort(x.grad.numpy().ravel()), np.sort(g.ravel()))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(1, 5), k=st.integers(-5, 5))
def test_tril_triu_partition(n, m, k):
    "tril(k) + triu(k+1) is the matrix itself, for every diagonal k, like torch's."
    a = np.random.default_rng(n * 7 + m).standard_normal((n, m))
    x = cl.tensor(a)
    np.testing.assert_array_equal((x.tril(k) + x.triu(k + 1)).numpy(), a)
    np.testing.assert_array_equal(x.tril(k).numpy(), torch.tril(torch.tensor(a), k).numpy())
