"""cl.erf (chapter 4's vectorised Cody erf, shared with chapter 5's GELU) and `%` / remainder / fmod (chapter 3), against
torch 2.13: values, dtypes, gradients (float64 tight, float32), edge values, errors, hypothesis over broadcast shapes."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import broadcastable_shapes, array_shapes

import course_lib as cl
from course_lib import _pointwise
from course_lib.nn import _activation as nn_activation


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t._data)


def _same_dtype(c, t):
    assert str(c.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], (c.dtype, t.dtype)


# ------------------------------------------------------------------------------------------------ erf
def test_erf_has_one_home_chapter_4_and_gelu_uses_it():
    assert nn_activation._erf is _pointwise._erf
    assert not hasattr(nn_activation, "_erf_numpy") and not hasattr(nn_activation, "_ERF_A")
    x = np.linspace(-3, 3, 20000)                      # the vectorised path (>= 512 elements), not math.erf per element
    assert np.array_equal(_pointwise._erf(x), _pointwise._erf_numpy(x)) and x.size >= 512


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_erf_values_and_gradient_match_torch(dtype):
    rng = np.random.default_rng(1)
    x = np.concatenate([np.linspace(-7, 7, 2001), rng.standard_normal(30000) * 3, rng.standard_normal(200) * 1e-8,
                        [0.46875, -0.46875, 4.0, -4.0, 5.9, 26.5, -27.3]]).astype(dtype)
    c = cl.tensor(x, dtype=getattr(cl, dtype), requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    co, to = cl.erf(c), torch.erf(t)
    _same_dtype(co, to)
    g = rng.standard_normal(x.shape).astype(dtype)
    co.backward(cl.tensor(g)); to.backward(torch.tensor(g))
    rtol = 1e-15 if dtype == "float64" else 2e-7
    np.testing.assert_allclose(_np(co), _np(to), rtol=rtol, atol=0 if dtype == "float64" else 1e-30)
    np.testing.assert_allclose(_np(c.grad), _np(t.grad), rtol=1e-14 if dtype == "float64" else 1e-6,
                               atol=1e-300 if dtype == "float64" else 1e-44)   # float32: one subnormal ulp near exp(-x^2)'s underflow
    assert co.grad_fn is not None and c.erf().shape == c.shape      # the method too


def test_erf_float64_agrees_with_math_erf_to_rounding():
    x = np.concatenate([np.linspace(-6, 6, 50001), np.random.default_rng(3).standard_normal((3, 20000)).ravel() * 2])
    np.testing.assert_allclose(_np(cl.erf(cl.tensor(x))), [math.erf(v) for v in x], rtol=1e-15, atol=0)


@pytest.mark.parametrize("pad", [0, 40000])      # few elements (math.erf per element) and the vectorised blocks
def test_erf_edge_values_like_torch(pad):
    edges = [np.inf, -np.inf, np.nan, -0.0, 0.0, 1e300, -1e300, 40.0, -40.0, 5e-324, -5e-324, 1e-300, 6.0, -6.0,
             np.nextafter(6.0, 0), 5.95, 0.46875, np.nextafter(0.46875, 1), 4.0, np.nextafter(4.0, 5)]
    x = np.concatenate([np.linspace(-7, 7, pad), edges, np.linspace(-7, 7, pad)[::-1]])   # edges across a block boundary
    for dtype in ("float64", "float32"):
        with np.errstate(all="ignore"):                               # 1e300 overflows float32 to inf on purpose
            xs = x.astype(dtype)
            ours, theirs = _np(cl.erf(cl.tensor(xs))), _np(torch.erf(torch.tensor(xs)))
        special = slice(pad, pad + 12)                                  # inf, nan, -0.0, huge, tiny: exactly torch's
        np.testing.assert_array_equal(ours[special], theirs[special])   # nan == nan here
        np.testing.assert_allclose(ours, theirs, rtol=1e-15 if dtype == "float64" else 2e-7, atol=0)   # branch edges too
        np.testing.assert_array_equal(np.signbit(ours), np.signbit(theirs))   # -0.0 stays -0.0
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs))
        assert ours.dtype == theirs.dtype


def test_erf_of_integers_is_float32_like_torch():
    c, t = cl.erf(cl.tensor([0, 1, -2])), torch.erf(torch.tensor([0, 1, -2]))
    _same_dtype(c, t)
    np.testing.assert_allclose(_np(c), _np(t), rtol=2e-7)


def test_erf_gradcheck():
    x = cl.tensor(np.random.default_rng(2).standard_normal(7) * 2, dtype=cl.float64, requires_grad=True)
    assert cl.gradcheck(cl.erf, (x,))


# ------------------------------------------------------------------------------------------------ remainder and fmod
SIGNS_A = [5.5, -5.5, 7.0, -7.0, 0.0, -0.0, 1e20, -1e20, 3.0, -3.0, np.inf, 6.0]
SIGNS_B = [3.0, 3.0, -2.0, -2.0, 3.0, -3.0, 3.0, 3.0, np.inf, np.inf, 3.0, 0.0]
OPS = {"remainder": (lambda m, a, b: m.remainder(a, b)), "fmod": (lambda m, a, b: m.fmod(a, b)),
       "%": (lambda m, a, b: a % b), "method": (lambda m, a, b: a.remainder(b)), "fmod_method": (lambda m, a, b: a.fmod(b))}


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mod_float_values_match_torch_signs_and_edges(op, dtype):
    a, b = np.array(SIGNS_A, dtype), np.array(SIGNS_B, dtype)
    f = OPS[op]
    ours, theirs = f(cl, cl.tensor(a), cl.tensor(b)), f(torch, torch.tensor(a), torch.tensor(b))
    _same_dtype(ours, theirs)
    np.testing.assert_array_equal(_np(ours), _np(theirs))
    np.testing.assert_array_equal(np.signbit(_np(ours)), np.signbit(_np(theirs)))


@pytest.mark.parametrize("op", OPS)
def test_mod_with_python_numbers_and_reflected(op):
    f = OPS[op]
    for a, b in ([[5, -5, 7, -7], 3], [[5, -5, 7, -7], -3], [[5.5, -5.5], 2], [[5, -5], 2.5], [[5, -5], float("-inf")],
                 [[True, False], 2], [[5, -5], True]):
        ours, theirs = f(cl, cl.tensor(a), b), f(torch, torch.tensor(a), b)
        _same_dtype(ours, theirs)
        np.testing.assert_array_equal(_np(ours), _np(theirs))
    for n in (7, -7, 7.5):
        for v in ([2, 3, -3], [2.0, -3.0]):
            ours, theirs = n % cl.tensor(v), n % torch.tensor(v)
            _same_dtype(ours, theirs)
            np.testing.assert_array_equal(_np(ours), _np(theirs))
            o2, t2 = cl.remainder(n, cl.tensor(v)), torch.remainder(n, torch.tensor(v))
            _same_dtype(o2, t2)
            np.testing.assert_array_equal(_np(o2), _np(t2))


@pytest.mark.parametrize("name", ["remainder", "fmod"])
@pytest.mark.parametrize("dt", ["int8", "uint8", "int32", "int64"])
def test_mod_integers_stay_integers(name, dt):
    a = np.array([5, -5, 7, -7, 0, 127, -128, 100], dtype=np.int64)
    b = np.array([3, 3, -3, -3, 5, 2, -1, 7], dtype=np.int64)
    if dt == "uint8": a, b = np.abs(a) % 200, np.abs(b)
    a, b = a.astype(dt), b.astype(dt)
    ours, theirs = getattr(cl, name)(cl.tensor(a), cl.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    _same_dtype(ours, theirs)
    np.testing.assert_array_equal(_np(ours), _np(theirs))
    mixed = (getattr(cl, name)(cl.tensor(a), cl.tensor(b.astype("int64"))),
             getattr(torch, name)(torch.tensor(a), torch.tensor(b.astype("int64"))))
    _same_dtype(*mixed)
    np.testing.assert_array_equal(_np(mixed[0]), _np(mixed[1]))


def _raises_like(f_ours, f_torch):
    with pytest.raises(Exception) as te: f_torch()
    with pytest.raises(type(te.value)) as e: f_ours()
    assert str(e.value).splitlines()[0].startswith(str(te.value).splitlines()[0])   # the project adds "(op: shapes ...)"
    return str(e.value)


def test_mod_errors_match_torch():
    ia, ta = cl.tensor([5, -5]), torch.tensor([5, -5])
    assert _raises_like(lambda: ia % 0, lambda: ta % 0) == "ZeroDivisionError"
    _raises_like(lambda: ia % cl.tensor([1, 0]), lambda: ta % torch.tensor([1, 0]))
    _raises_like(lambda: cl.fmod(ia, 0), lambda: torch.fmod(ta, 0))
    _raises_like(lambda: 5 % cl.tensor([0, 1]), lambda: 5 % torch.tensor([0, 1]))
    _raises_like(lambda: cl.tensor([True]) % True, lambda: torch.tensor([True]) % True)
    _raises_like(lambda: cl.fmod(cl.tensor([True]), cl.tensor([True])), lambda: torch.fmod(torch.tensor([True]), torch.tensor([True])))
    _raises_like(lambda: cl.tensor([1, 2, 3]) % cl.tensor([1, 2]), lambda: torch.tensor([1, 2, 3]) % torch.tensor([1, 2]))
    _raises_like(lambda: cl.fmod(cl.tensor([1., 2, 3]), cl.tensor([1., 2])), lambda: torch.fmod(torch.tensor([1., 2, 3]), torch.tensor([1., 2])))
    _raises_like(lambda: cl.tensor([2]) % "a", lambda: torch.tensor([2]) % "a")
    _raises_like(lambda: cl.remainder(cl.tensor([2]), "a"), lambda: torch.remainder(torch.tensor([2]), "a"))
    _raises_like(lambda: cl.fmod(cl.tensor([2]), "a"), lambda: torch.fmod(torch.tensor([2]), "a"))
    _raises_like(lambda: cl.fmod(5, cl.tensor([2])), lambda: torch.fmod(5, torch.tensor([2])))
    x, tx = cl.tensor([5., -5.], requires_grad=True), torch.tensor([5., -5.], requires_grad=True)
    _raises_like(lambda: cl.remainder(x, 2, out=cl.empty(2)), lambda: torch.remainder(tx, 2, out=torch.empty(2)))
    # Number % Tensor: torch records the op but has no derivative for it
    _raises_like(lambda: (2 % x).sum().backward(), lambda: (2 % tx).sum().backward())


def test_float_mod_zero_is_nan_quietly():
    with np.errstate(all="raise"):
        for name in ("remainder", "fmod"):
            ours = getattr(cl, name)(cl.tensor([5., -5., 0.]), 0.)
            theirs = getattr(torch, name)(torch.tensor([5., -5., 0.]), 0.)
            np.testing.assert_array_equal(_np(ours), _np(theirs))
        np.testing.assert_array_equal(_np(cl.tensor([5, -5]) % 0.0), _np(torch.tensor([5, -5]) % 0.0))


@pytest.mark.parametrize("name", ["remainder", "fmod"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mod_gradients_match_torch(name, dtype):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((3, 4)) * 5).astype(dtype)
    b = (np.sign(rng.standard_normal((1, 4))) * rng.uniform(0.5, 2, (1, 4))).astype(dtype)   # broadcast over rows
    g = rng.standard_normal((3, 4)).astype(dtype)
    ca, cb = cl.tensor(a, requires_grad=True), cl.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    co, to = getattr(cl, name)(ca, cb), getattr(torch, name)(ta, tb)
    assert co.grad_fn.name() == type(to.grad_fn).__name__     # RemainderBackward1 / FmodBackward1
    co.backward(cl.tensor(g)); to.backward(torch.tensor(g))
    rtol = 1e-13 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(_np(co), _np(to), rtol=rtol, atol=1e-12 if dtype == "float64" else 1e-5)
    np.testing.assert_allclose(_np(ca.grad), _np(ta.grad), rtol=rtol)
    np.testing.assert_allclose(_np(cb.grad), _np(tb.grad), rtol=rtol)
    # with a Python number as divisor: the d/da = 1 path, and torch's Backward0 name
    ca.grad = None; ta.grad = None
    co, to = getattr(cl, name)(ca, 1.5), getattr(torch, name)(ta, 1.5)
    assert co.grad_fn.name() == type(to.grad_fn).__name__
    co.sum().backward(); to.sum().backward()
    np.testing.assert_allclose(_np(ca.grad), _np(ta.grad))


@pytest.mark.parametrize("name", ["remainder", "fmod"])
def test_mod_gradcheck(name):
    rng = np.random.default_rng(4)
    a = cl.tensor((rng.integers(-4, 4, 6) + 0.5) * 1.3, dtype=cl.float64, requires_grad=True)   # a/b half-way between jumps
    b = cl.tensor(rng.choice([-1.3, 1.3], 6), dtype=cl.float64, requires_grad=True)
    assert cl.gradcheck(lambda x, y: getattr(cl, name)(x, y), (a, b))


@pytest.mark.parametrize("name,tname", [("remainder_", "remainder_"), ("fmod_", "fmod_"), ("__imod__", "__imod__")])
def test_mod_in_place(name, tname):
    for a, b in (([5., -5., 7.5], [3., 3., -2.]), ([5, -5, 7], 3), ([5, -5, 7], [3, -3, 2])):
        c, t = cl.tensor(a), torch.tensor(a)
        v = c._version
        rc = getattr(c, name)(cl.tensor(b) if isinstance(b, list) else b)
        rt = getattr(t, tname)(torch.tensor(b) if isinstance(b, list) else b)
        assert rc is c and c._version == v + 1
        _same_dtype(c, t)
        np.testing.assert_array_equal(_np(c), _np(t))
    _raises_like(lambda: getattr(cl.tensor([5, 6]), name)(2.5), lambda: getattr(torch.tensor([5, 6]), tname)(2.5))
    # recorded when it must be: gradient through the in-place op
    x, tx = cl.tensor([5.5, -5.5], requires_grad=True), torch.tensor([5.5, -5.5], requires_grad=True)
    y, ty = x * 1, tx * 1
    getattr(y, name)(cl.tensor([2., 2.])); getattr(ty, tname)(torch.tensor([2., 2.]))
    y.sum().backward(); ty.sum().backward()
    np.testing.assert_array_equal(_np(y), _np(ty)); np.testing.assert_array_equal(_np(x.grad), _np(tx.grad))


@settings(max_examples=40, deadline=None)
@given(shapes=array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4).flatmap(
           lambda s: st.tuples(st.just(s), broadcastable_shapes(s, min_dims=0, max_dims=3))),
       seed=st.integers(0, 2**16), name=st.sampled_from(["remainder", "fmod"]), ints=st.booleans())
def test_mod_broadcast_shapes_hypothesis(shapes, seed, name, ints):
    sa, sb = shapes
    rng = np.random.default_rng(seed)
    if ints:
        a, b = rng.integers(-50, 50, sa), rng.integers(1, 9, sb) * rng.choice([-1, 1], sb)
        ours, theirs = getattr(cl, name)(cl.tensor(a), cl.tensor(b)), getattr(torch, name)(torch.tensor(a), torch.tensor(b))
        _same_dtype(ours, theirs)
        np.testing.assert_array_equal(_np(ours), _np(theirs))
        return
    a, b = rng.standard_normal(sa) * 10, rng.uniform(0.5, 3, sb) * rng.choice([-1, 1], sb)
    ca, cb = cl.tensor(a, requires_grad=True), cl.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    co, to = getattr(cl, name)(ca, cb), getattr(torch, name)(ta, tb)
    assert tuple(co.shape) == tuple(to.shape)
    np.testing.assert_allclose(_np(co), _np(to), rtol=1e-12, atol=1e-12)
    co.sum().backward(); to.sum().backward()
    np.testing.assert_array_equal(_np(ca.grad), _np(ta.grad))
    np.testing.assert_allclose(_np(cb.grad), _np(tb.grad), rtol=1e-12)


def test_mod_out_argument_like_torch():
    for name in ("remainder", "fmod"):
        o, to = cl.empty(3), torch.empty(3)
        r = getattr(cl, name)(cl.tensor([5., -5., 7.]), cl.tensor([3., 3., -2.]), out=o)
        getattr(torch, name)(torch.tensor([5., -5., 7.]), torch.tensor([3., 3., -2.]), out=to)
        assert r is o
        np.testing.assert_array_equal(_np(o), _np(to))
