"""No NumPy warning that torch would not give: overflow to inf, nan results, casts, reductions, and their gradients.

Each expression runs on torch and on course_lib with every warning turned into an error; both must give the same
outcome (a value, or torch's own warning). pytest restores the warnings filters after collecting, which drops the filter
course_lib installs when it is imported (`course_lib.autograd._quiet_numpy`), so each test installs it again, as a
fresh `import course_lib` in a notebook or script does.
"""
import math
import warnings

import numpy as np
import pytest
import torch

import course_lib as cl

BIG = [3e38, 1.]
CASES = {
    "add": lambda L: L.tensor(BIG) + L.tensor(BIG),
    "sub": lambda L: L.tensor(BIG) - L.tensor([-3e38, 0.]),
    "mul": lambda L: L.tensor(BIG) * 10,
    "rmul": lambda L: 10 * L.tensor(BIG),
    "pow": lambda L: L.tensor(BIG) ** 2,
    "div": lambda L: L.tensor(BIG) / 1e-30,
    "div by zero": lambda L: L.tensor([1., 0., -1.]) / 0,
    "inf - inf": lambda L: L.tensor([math.inf]) - L.tensor([math.inf]),
    "0 * inf": lambda L: L.tensor([0.]) * math.inf,
    "sum": lambda L: L.tensor([3e38, 3e38]).sum(),
    "mean": lambda L: L.tensor([3e38, 3e38]).mean(),
    "var": lambda L: L.tensor([3e38, -3e38]).var(),
    "matmul": lambda L: L.tensor([[3e38, 3e38]]) @ L.tensor([[1.], [1.]]),
    "exp": lambda L: L.tensor(BIG).exp(),
    "log": lambda L: L.tensor([0., -1.]).log(),
    "sqrt": lambda L: L.tensor([-1.]).sqrt(),
    "sigmoid": lambda L: L.tensor([-3e38, 3e38]).sigmoid(),
    "tanh": lambda L: L.tensor(BIG).tanh(),
    "softmax": lambda L: L.softmax(L.tensor([math.inf, 1.]), 0),
    "log_softmax": lambda L: L.log_softmax(L.tensor([-math.inf, 1.]), 0),
    "cross_entropy": lambda L: L.nn.functional.cross_entropy(L.tensor([[3e38, -3e38]]), L.tensor([1])),
    "mse_loss": lambda L: L.nn.functional.mse_loss(L.tensor(BIG), L.tensor([-3e38, 0.])),
    "tensor from float64": lambda L: L.tensor([1e300]),
    "to float16": lambda L: L.tensor([1e6]).half(),
    "backward overflow": lambda L: _grad(L, lambda x: (x * 1e30 * 1e30).sum()),
    "backward 0/0": lambda L: _grad(L, lambda x: (x / x.detach() * 0).sum(), 0.),
    "std of one element": lambda L: L.tensor([1.]).std(),
}


def _grad(L, f, start=3e10):
    x = L.tensor([start], requires_grad=True)
    f(x).backward()
    return x.grad


def _outcome(L, case):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        if L is cl: cl.autograd._quiet_numpy()
        try:
            out = case(L)
        except Warning as w:
            return ("warned", type(w).__name__, str(w).split("(Triggered")[0].strip())
    return ("value", out.detach().numpy())


@pytest.mark.parametrize("name", list(CASES))
def test_warns_exactly_as_torch(name):
    ours, theirs = _outcome(cl, CASES[name]), _outcome(torch, CASES[name])
    if ours[0] == theirs[0] == "value":   # the same value: inf and nan where torch has them, float32 to rounding
        a, b = ours[1], theirs[1]
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=1e-6, equal_nan=True)
    else:
        assert ours == theirs
