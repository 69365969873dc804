"""torch's further elementwise functions (chapter 4, `_pointwise`) against torch: values, gradients, node names, dtypes."""
import numpy as np
import pytest
import torch
import course_lib as cl

SMOOTH = {"square": None, "reciprocal": (0.2, 3), "rsqrt": (0.2, 3), "log1p": (-0.5, 3), "expm1": None, "exp2": None,
          "log2": (0.2, 3), "log10": (0.2, 3), "sinh": None, "cosh": None, "asin": (-0.9, 0.9), "acos": (-0.9, 0.9),
          "atan": None, "frac": None, "floor": None, "ceil": None, "round": None, "trunc": None, "sign": None}


def _inputs(name, dtype):
    rng = np.random.default_rng(sorted(SMOOTH).index(name))
    lo, hi = SMOOTH[name] or (-3, 3)
    return rng.uniform(lo, hi, size=(3, 4)).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_like_torch(name, dtype):
    a = _inputs(name, dtype)
    x, xt = cl.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    out, ref = getattr(cl, name)(x), getattr(torch, name)(xt)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), **tol)
    np.testing.assert_allclose(getattr(x, name)().detach().numpy(), ref.detach().numpy(), **tol)
    assert out.dtype.name == dtype and out.grad_fn.name() == type(ref.grad_fn).__name__
    g = np.random.default_rng(1).standard_normal(a.shape).astype(dtype)
    out.backward(cl.tensor(g)); ref.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), **tol)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "sign", "square", "rsqrt", "log2", "exp2"])
def test_integer_inputs_like_torch(name):
    a = np.array([3, -2, 0, 7])
    out, ref = getattr(cl, name)(cl.tensor(a)), getattr(torch, name)(torch.tensor(a))
    assert out.dtype.name == str(ref.dtype).removeprefix("torch."), (out.dtype, ref.dtype)
    np.testing.assert_allclose(out.numpy(), ref.numpy(), rtol=1e-6)


def test_round_halves_to_even_like_torch():
    a = np.array([0.5, 1.5, 2.5, -0.5, -1.5], dtype=np.float32)
    assert cl.round(cl.tensor(a)).tolist() == torch.round(torch.tensor(a)).tolist()


def test_outside_the_domain_quietly_nan_like_torch():
    a = np.array([-1.0, 2.0], dtype=np.float64)
    for name in ("asin", "log2", "rsqrt"):
        with np.errstate(all="raise"):   # no NumPy warning reaches the user
            ours = getattr(cl, name)(cl.tensor(a)).numpy()
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(getattr(torch, name)(torch.tensor(a)).numpy()))


def test_gradcheck():
    for name in ("rsqrt", "log1p", "asin", "atan", "exp2"):
        x = cl.tensor(_inputs(name, "float64") if SMOOTH[name] else _inputs(name, "float64") / 2, requires_grad=True)
        assert cl.gradcheck(getattr(cl, name), (x,))
