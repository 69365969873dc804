"""Numerical stability at extreme logits (±1e4, and ±1e30 where the dtype holds it): softmax, log_softmax,
logsumexp, sigmoid, cross_entropy and binary_cross_entropy give finite values and gradients equal to torch's,
with every numpy floating-point problem turned into an error while course_lib computes.

Strict mode: ``warnings.simplefilter("error")`` plus ``np.errstate(over/divide/invalid="raise")``. Underflow is
left alone on purpose: exp(-1e4) == 0 is the *correct* result of a stable softmax (x - max), and numpy flags
even that benign underflow, which torch never reports.
"""
import contextlib
import warnings

import numpy as np
import pytest

import torch

import course_lib as cl
from helpers import (FLOAT_DTYPES, assert_same_tensor, build_inputs, cl_F, fixed, integers, make_context,
                     to_numpy)


@contextlib.contextmanager
def strict():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def extreme(big):
    return [[big, -big, 0.0], [-big, -big, -big], [big, big, -big], [0.5, -0.5, big], [big, big, big]]


TARGET = [0, 1, 2, 0, 1]  # row 0: right class; row 1: all equal; row 2: tie; row 3: right; row 4: all equal
BCE_TARGET = [[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [1.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.0, 0.5, 1.0]]

STABLE = {
    "softmax_last": lambda C, x: x.softmax(-1),
    "softmax_dim0": lambda C, x: C.lib.softmax(x, 0),
    "log_softmax_last": lambda C, x: x.log_softmax(-1),
    "log_softmax_dim0": lambda C, x: C.lib.log_softmax(x, dim=0),
    "F_softmax": lambda C, x: C.F.softmax(x, dim=1),
    "F_log_softmax": lambda C, x: C.F.log_softmax(x, dim=1),
    "logsumexp_last": lambda C, x: x.logsumexp(-1),
    "logsumexp_dim0_keepdim": lambda C, x: C.lib.logsumexp(x, 0, keepdim=True),
    "sigmoid": lambda C, x: x.sigmoid(),
    "sigmoid_module": lambda C, x: C.lib.sigmoid(x),
    "F_sigmoid": lambda C, x: C.F.sigmoid(x),
    "tanh": lambda C, x: x.tanh(),
    "cross_entropy_mean": lambda C, x, t: C.F.cross_entropy(x, t),
    "cross_entropy_sum": lambda C, x, t: C.F.cross_entropy(x, t, reduction="sum"),
    "cross_entropy_none": lambda C, x, t: C.F.cross_entropy(x, t, reduction="none"),
    "nll_of_log_softmax": lambda C, x, t: C.F.nll_loss(C.F.log_softmax(x, dim=1), t),
    "bce_of_sigmoid_mean": lambda C, x, y: C.F.binary_cross_entropy(x.sigmoid(), y),
    "bce_of_sigmoid_sum": lambda C, x, y: C.F.binary_cross_entropy(C.lib.sigmoid(x), y, reduction="sum"),
    "bce_of_sigmoid_none": lambda C, x, y: C.F.binary_cross_entropy(x.sigmoid(), y, reduction="none"),
}


def _extra_inputs(name):
    if "cross_entropy" in name or "nll" in name:
        return [integers(TARGET)]
    if "bce" in name:
        return [fixed(BCE_TARGET, grad=False)]
    return []


def _run_strict(fn, specs, dtype, device):
    rng = np.random.default_rng(0)
    c_in, t_in = build_inputs(specs, dtype, device, rng)
    t_out = fn(make_context(torch, device), *t_in)
    g = rng.standard_normal(tuple(t_out.shape))
    with strict():
        c_out = fn(make_context(cl, device), *c_in)
        cg = cl.tensor(g, dtype=getattr(cl, dtype), device=device)
        if c_out.ndim == 0:
            c_out.backward()
        else:
            c_out.backward(cg)
    if t_out.ndim == 0:
        t_out.backward()
    else:
        t_out.backward(torch.tensor(g, dtype=getattr(torch, dtype), device=device))
    return c_in, t_in, c_out, t_out


@pytest.mark.parametrize("big", [1e4, 1e30], ids=["1e4", "1e30"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", list(STABLE))
def test_extreme_logits_finite_and_equal_torch(device, name, dtype, big):
    specs = [fixed(extreme(big))] + _extra_inputs(name)
    c_in, t_in, c_out, t_out = _run_strict(STABLE[name], specs, dtype, device)
    assert np.all(np.isfinite(to_numpy(t_out))), "reference not finite: bad test data"
    assert np.all(np.isfinite(to_numpy(c_out))), f"{name}: non-finite values {to_numpy(c_out)}"
    assert_same_tensor(c_out.detach(), t_out.detach(), "value")
    assert c_in[0].grad is not None
    assert np.all(np.isfinite(to_numpy(c_in[0].grad))), f"{name}: non-finite grad {to_numpy(c_in[0].grad)}"
    assert_same_tensor(c_in[0].grad, t_in[0].grad, "grad")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_on_exact_zero_and_one_probabilities(device, dtype, reduction):
    """Probabilities of exactly 0 and 1 (a saturated sigmoid): torch clamps log() at -100, so the loss is finite.
    Values must equal torch's; the gradient must be finite (torch's exact value depends on its internal epsilon,
    so it is compared with torch through the sigmoid in test_extreme_logits_finite_and_equal_torch)."""
    p = [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    y = [[1.0, 0.0, 0.0], [1.0, 0.5, 0.0]]
    c_in, t_in = build_inputs([fixed(p), fixed(y, grad=False)], dtype, device, np.random.default_rng(0))
    t_out = torch.nn.functional.binary_cross_entropy(t_in[0], t_in[1], reduction=reduction)
    with strict():
        c_out = cl_F().binary_cross_entropy(c_in[0], c_in[1], reduction=reduction)
        c_out.sum().backward()
    assert_same_tensor(c_out.detach(), t_out.detach(), "value")
    assert np.all(np.isfinite(to_numpy(c_in[0].grad)))


MASKED = {
    "softmax": lambda C, x: x.softmax(-1),
    "log_softmax": lambda C, x: x.log_softmax(-1),
    "logsumexp": lambda C, x: x.logsumexp(-1),
    "F_softmax": lambda C, x: C.F.softmax(x, dim=-1),
    "cross_entropy": lambda C, x: C.F.cross_entropy(x, C.t([1, 2, 0])),
}


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("name", list(MASKED))
def test_masked_minus_inf_logits(device, name, dtype):
    """-inf entries (an attention-style mask) that leave at least one finite logit per row: torch's values,
    and finite gradients equal to torch's for the finite logits."""
    inf = float("inf")
    data = [[-inf, 0.5, 1.0], [2.0, -inf, -inf], [0.0, 1e4, -inf]]
    c_in, t_in, c_out, t_out = _run_strict(MASKED[name], [fixed(data)], dtype, device)
    assert_same_tensor(c_out.detach(), t_out.detach(), "value")
    assert np.all(np.isfinite(to_numpy(c_in[0].grad)))
    assert_same_tensor(c_in[0].grad, t_in[0].grad, "grad")


FULLY_MASKED = {
    "softmax": lambda L, x: x.softmax(-1),
    "log_softmax": lambda L, x: x.log_softmax(-1),
    "logsumexp": lambda L, x: x.logsumexp(-1),
}


@pytest.mark.parametrize("name", list(FULLY_MASKED))
def test_fully_masked_row_like_torch_without_numpy_warnings(name):
    """A row that is entirely -inf (all positions masked): torch returns nan (softmax family) or -inf (logsumexp)
    silently; course_lib must return the same without a numpy RuntimeWarning."""
    inf = float("inf")
    data = [[-inf, -inf, -inf], [0.0, 1.0, -inf]]
    c, t = cl.tensor(data), torch.tensor(data)
    with strict():
        c_out = FULLY_MASKED[name](cl, c)
    t_out = FULLY_MASKED[name](torch, t)
    assert_same_tensor(c_out, t_out)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
def test_softmax_sums_to_one_at_extremes(device, dtype):
    x = np.array(extreme(1e4))
    cx, tx = (cl.tensor(x, dtype=getattr(cl, dtype), device=device),
              torch.tensor(x, dtype=getattr(torch, dtype), device=device))
    with strict():
        s = cx.softmax(-1).sum(-1)
    assert_same_tensor(s, tx.softmax(-1).sum(-1))
    np.testing.assert_allclose(to_numpy(s), 1.0, rtol=1e-6)
