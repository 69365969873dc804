"""Autograd semantics, each checked against what torch does on the same program.

Accumulation, leaves and non-leaves, detach, no_grad (context manager and decorator), retain_graph, explicit
upstream gradients, requires_grad rules, a 5000-op chain (iterative topological sort), diamonds, gradcheck, custom
Functions and the backward shape/dtype invariant.
"""
import importlib

import numpy as np
import pytest
import torch

import course_lib as cl
from helpers import assert_same_tensor, paired, to_numpy


def _function_class():
    return getattr(cl, "Function", None) or importlib.import_module("course_lib.autograd").Function


# ----------------------------------------------------------------------------------------------------------
# accumulation
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_grad_accumulates_across_backward_calls(device, dtype):
    data = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
    cx, tx = paired(data, dtype=dtype, device=device, requires_grad=True)
    for x in (cx, tx):
        (x * x).sum().backward()
        (x * 3).sum().backward()
        x.exp().mean().backward()
    assert_same_tensor(cx.grad, tx.grad, "accumulated grad")


def test_grad_zero_then_backward(device):
    cx, tx = paired([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for x in (cx, tx):
        (x * x).sum().backward()
        x.grad.zero_()
        (x * 5).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_grad_set_to_none_then_backward(device):
    cx, tx = paired([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for x in (cx, tx):
        (x * x).sum().backward()
        x.grad = None
        (x * 5).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_grad_is_tensor_without_grad(device):
    cx, _ = paired([1.0, 2.0], device=device, requires_grad=True)
    assert cx.grad is None
    (cx * 2).sum().backward()
    assert isinstance(cx.grad, cl.Tensor)
    assert cx.grad.requires_grad is False
    assert cx.grad.grad_fn is None


# ----------------------------------------------------------------------------------------------------------
# leaves, non-leaves, grad_fn
# ----------------------------------------------------------------------------------------------------------
def test_leaf_and_nonleaf_flags_match_torch(device):
    cx, tx = paired([1.0, 2.0, 3.0], device=device, requires_grad=True)
    cc, tc = paired([4.0, 5.0, 6.0], device=device)
    for lib_x, lib_c, is_torch in ((cx, cc, False), (tx, tc, True)):
        y = lib_x * 2
        z = y.sum()
        z.backward()
        flags = (lib_x.is_leaf, lib_x.grad_fn is None, lib_c.is_leaf, y.is_leaf, y.grad_fn is None,
                 y.requires_grad, z.is_leaf, (lib_c * 2).is_leaf, (lib_c * 2).grad_fn is None,
                 (lib_c * 2).requires_grad)
        if is_torch:
            t_flags = flags
        else:
            c_flags = flags
    assert c_flags == t_flags
    assert c_flags == (True, True, True, False, False, True, False, True, True, False)


def test_nonleaf_grad_stays_none(device):
    cx, tx = paired([1.0, -2.0, 3.0], device=device, requires_grad=True)
    cy = cx * cx
    cy.sum().backward()
    assert cy.grad is None
    assert cx.grad is not None
    ty = tx * tx
    ty.retain_grad()  # torch can keep it; without retain_grad it warns and returns None like course_lib
    ty.sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_graph_recorded_only_when_an_input_requires_grad(device):
    ca, _ = paired([1.0, 2.0], device=device)
    cb, _ = paired([3.0, 4.0], device=device)
    y = ca * cb + ca.exp()
    assert y.grad_fn is None and y.requires_grad is False and y.is_leaf
    cb.requires_grad = True
    y = ca * cb
    assert y.grad_fn is not None and y.requires_grad


# ----------------------------------------------------------------------------------------------------------
# detach
# ----------------------------------------------------------------------------------------------------------
def test_detach_shares_data_and_drops_history(device):
    cx, tx = paired([1.0, 2.0, 3.0], device=device, requires_grad=True)
    cy, ty = cx * 2, tx * 2
    cd, td = cy.detach(), ty.detach()
    assert cd.requires_grad is False and cd.grad_fn is None and cd.is_leaf
    assert td.requires_grad is False and td.grad_fn is None and td.is_leaf
    cd.zero_()  # in-place on the detached view changes the original's storage, as in torch
    td.zero_()
    assert_same_tensor(cy.detach(), ty.detach())
    assert np.all(to_numpy(cy) == 0)
    # and the leaf itself: detach of a leaf shares its storage
    cl_leaf_view = cx.detach()
    t_leaf_view = tx.detach()
    cl_leaf_view.add_(1.0)
    t_leaf_view.add_(1.0)
    assert_same_tensor(cx.detach(), tx.detach())


def test_detach_blocks_gradient(device):
    cx, tx = paired([1.0, 2.0, 3.0], device=device, requires_grad=True)
    for x in (cx, tx):
        (x * x.detach()).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_data_property_shares_storage_without_grad(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    cd, td = cx.data, tx.data
    assert cd.requires_grad is False and td.requires_grad is False
    cd.mul_(3.0)
    td.mul_(3.0)
    assert_same_tensor(cx.detach(), tx.detach())
    assert cx.is_leaf and cx.requires_grad


# ----------------------------------------------------------------------------------------------------------
# grad mode
# ----------------------------------------------------------------------------------------------------------
def test_no_grad_context_records_nothing(device):
    cx, _ = paired([1.0, 2.0], device=device, requires_grad=True)
    assert cl.is_grad_enabled()
    with cl.no_grad():
        assert not cl.is_grad_enabled()
        y = (cx * 2).exp().sum()
    assert cl.is_grad_enabled()
    assert y.requires_grad is False and y.grad_fn is None
    z = cx * 2
    assert z.requires_grad and z.grad_fn is not None


def test_no_grad_decorator_records_nothing(device):
    cx, _ = paired([1.0, 2.0], device=device, requires_grad=True)

    @cl.no_grad()
    def f(t):
        return t * t + 1

    y = f(cx)
    assert y.requires_grad is False and y.grad_fn is None
    assert cl.is_grad_enabled()


def test_no_grad_bare_decorator_like_torch(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)

    @torch.no_grad
    def tf(t):
        return t * 2

    @cl.no_grad
    def cf(t):
        return t * 2

    ty, cy = tf(tx), cf(cx)
    assert ty.requires_grad is False and cy.requires_grad is False and cy.grad_fn is None
    assert_same_tensor(cy, ty)


def test_no_grad_restored_after_exception(device):
    with pytest.raises(ValueError):
        with cl.no_grad():
            raise ValueError("boom")
    assert cl.is_grad_enabled()


def test_enable_grad_and_set_grad_enabled(device):
    cx, _ = paired([1.0, 2.0], device=device, requires_grad=True)
    with cl.no_grad():
        with cl.enable_grad():
            assert (cx * 2).requires_grad
        assert not (cx * 2).requires_grad
    with cl.set_grad_enabled(False):
        assert not (cx * 2).requires_grad
    assert cl.is_grad_enabled()


def test_update_in_place_under_no_grad_like_an_optimizer(device):
    cw, tw = paired([0.5, -1.0, 2.0], device=device, requires_grad=True)
    for w, lib in ((cw, cl), (tw, torch)):
        (w * w).sum().backward()
        ident = id(w)
        with lib.no_grad():
            w -= 0.1 * w.grad
            w.sub_(w.grad * 0.1)
        assert id(w) == ident and w.is_leaf and w.requires_grad and w.grad_fn is None
    assert_same_tensor(cw.detach(), tw.detach())
    for w in (cw, tw):
        w.grad.zero_()
        (w * w).sum().backward()
    assert_same_tensor(cw.grad, tw.grad)


# ----------------------------------------------------------------------------------------------------------
# retain_graph (course_lib follows torch: saved arrays are freed, a second backward raises)
# ----------------------------------------------------------------------------------------------------------
def test_second_backward_without_retain_graph_raises_like_torch(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    tz = (tx * tx).sum()
    tz.backward()
    with pytest.raises(RuntimeError) as t_err:
        tz.backward()
    cz = (cx * cx).sum()
    cz.backward()
    with pytest.raises(RuntimeError) as c_err:
        cz.backward()
    assert "Trying to backward through the graph a second time" in str(t_err.value)
    assert "Trying to backward through the graph a second time" in str(c_err.value)
    assert "retain_graph=True" in str(c_err.value)


def test_retain_graph_allows_second_backward_and_accumulates(device):
    cx, tx = paired([1.0, 2.0, -0.5], device=device, requires_grad=True)
    for x in (cx, tx):
        z = (x * x.sin()).sum()
        z.backward(retain_graph=True)
        z.backward(retain_graph=True)
        z.backward()
    assert_same_tensor(cx.grad, tx.grad)


# ----------------------------------------------------------------------------------------------------------
# explicit upstream gradient
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backward_with_gradient(device, dtype):
    rng = np.random.default_rng(0)
    data, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    cx, tx = paired(data, dtype=dtype, device=device, requires_grad=True)
    cg, tg = paired(g, dtype=dtype, device=device)
    (cx * cx).backward(cg)
    (tx * tx).backward(tg)
    assert_same_tensor(cx.grad, tx.grad)


def test_backward_with_gradient_keyword_and_scalar(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    cg, tg = paired(np.array(2.5), dtype="float32", device=device)
    (cx * cx).sum().backward(gradient=cg)
    (tx * tx).sum().backward(gradient=tg)
    assert_same_tensor(cx.grad, tx.grad)


# ----------------------------------------------------------------------------------------------------------
# requires_grad rules
# ----------------------------------------------------------------------------------------------------------
def test_requires_grad_settable_on_leaves(device):
    cx, tx = paired([1.0, 2.0], device=device)
    assert cx.requires_grad is False
    cx.requires_grad = True
    tx.requires_grad = True
    assert cx.requires_grad and cx.is_leaf
    for x in (cx, tx):
        (x * 3).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)
    cx.requires_grad = False
    assert (cx * 2).grad_fn is None


def test_requires_grad_underscore_returns_self(device):
    cx, _ = paired([1.0, 2.0], device=device)
    assert cx.requires_grad_() is cx
    assert cx.requires_grad
    assert cx.requires_grad_(False) is cx
    assert not cx.requires_grad


@pytest.mark.parametrize("value", [True, False])
def test_requires_grad_not_settable_on_nonleaf(device, value):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError) as t_err:
        (tx * 2).requires_grad = value
    with pytest.raises(RuntimeError) as c_err:
        (cx * 2).requires_grad = value
    assert "you can only change requires_grad flags of leaf variables" in str(t_err.value)
    assert "you can only change requires_grad flags of leaf variables" in str(c_err.value)


def test_detach_then_requires_grad_is_a_new_leaf(device):
    cx, tx = paired([1.0, -2.0], device=device, requires_grad=True)
    ys = []
    for x in (cx, tx):
        y = (x * 2).detach().requires_grad_()
        (y * y).sum().backward()
        ys.append(y)
        assert x.grad is None and y.is_leaf
    assert_same_tensor(ys[0].grad, ys[1].grad)


def test_backward_on_a_leaf(device):
    cx, tx = paired([1.0, -2.0], device=device, requires_grad=True)
    cg, tg = paired([0.5, 3.0], device=device)
    cx.backward(cg)
    tx.backward(tg)
    assert_same_tensor(cx.grad, tx.grad)


@pytest.mark.parametrize("other", ["float64_tensor", "int64_tensor", "np_float64_scalar", "float64_0d"])
def test_mixed_dtype_grads_keep_leaf_dtype(device, other):
    """A float32 leaf combined with a float64 / int64 operand: its grad is float32 (torch casts back)."""
    cx, tx = paired([0.5, -1.5, 2.0], dtype="float32", device=device, requires_grad=True)
    if other == "float64_tensor":
        co, to = paired([2.0, 3.0, -1.0], dtype="float64", device=device, requires_grad=True)
    elif other == "int64_tensor":
        co, to = paired([2, 3, -1], device=device)
    elif other == "float64_0d":
        co, to = paired(np.array(1.5), dtype="float64", device=device, requires_grad=True)
    else:
        co = to = np.float64(1.5)
    for x, o in ((cx, co), (tx, to)):
        (x * o + x.exp() * o).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)
    if other in ("float64_tensor", "float64_0d"):
        # float64 grads built from float32 intermediates (x.exp() in float32): float32-level agreement
        assert_same_tensor(co.grad, to.grad, rtol=1e-6, atol=1e-7)


# ----------------------------------------------------------------------------------------------------------
# graph shapes: long chains, diamonds, shared subexpressions
# ----------------------------------------------------------------------------------------------------------
def test_deep_chain_5000_ops_no_recursion_error(device):
    cx, tx = paired([0.5, -0.25], dtype="float64", device=device, requires_grad=True)
    outs = []
    for x in (cx, tx):
        y = x
        for i in range(2500):  # 5000 ops
            y = y * 1.0001
            y = y + 0.001
        y.sum().backward()
        outs.append(y)
    assert_same_tensor(outs[0].detach(), outs[1].detach())
    assert_same_tensor(cx.grad, tx.grad)


def test_deep_chain_of_nonlinear_ops(device):
    cx, tx = paired([0.3, -0.7, 1.1], dtype="float64", device=device, requires_grad=True)
    for x in (cx, tx):
        y = x
        for i in range(1000):
            y = (y.sin() + y) * 0.5
        y.sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_diamond_graph(device):
    cx, tx = paired([0.5, 1.5, -2.0], dtype="float64", device=device, requires_grad=True)
    for x in (cx, tx):
        a = x * 2
        b = x.exp()
        c = a * b
        d = c + a - b.sin()
        (d * d).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_topological_order_with_shared_nonleaf(device):
    """y is used by nodes at different depths: its grad must be complete before it is propagated."""
    cx, tx = paired([0.2, -0.4], dtype="float64", device=device, requires_grad=True)
    for x in (cx, tx):
        y = x * x
        z = y
        for _ in range(5):
            z = z * y + y
        (z + y.exp()).sum().backward()
    assert_same_tensor(cx.grad, tx.grad)


def test_two_leaves_many_paths(device):
    cx, tx = paired([[1.0, 2.0], [3.0, 4.0]], dtype="float64", device=device, requires_grad=True)
    cw, tw = paired([[0.5, -0.5], [0.25, 1.0]], dtype="float64", device=device, requires_grad=True)
    for x, w in ((cx, cw), (tx, tw)):
        h = (x @ w).tanh()
        out = (h @ w.T + x * w).sum() + (h * h).mean()
        out.backward()
    assert_same_tensor(cx.grad, tx.grad)
    assert_same_tensor(cw.grad, tw.grad)


# ----------------------------------------------------------------------------------------------------------
# gradcheck
# ----------------------------------------------------------------------------------------------------------
GRADCHECK_FNS = {
    "mul_bcast": (lambda a, b: a * b, [(3, 4), (4,)]),
    "div": (lambda a, b: a / (b * b + 1), [(3, 4), (3, 1)]),
    "matmul": (lambda a, b: a @ b, [(3, 4), (4, 2)]),
    "softmax": (lambda a: a.softmax(-1), [(3, 4)]),
    "log_softmax": (lambda a: a.log_softmax(0), [(3, 4)]),
    "logsumexp": (lambda a: a.logsumexp(1), [(3, 4)]),
    "var": (lambda a: a.var(0), [(3, 4)]),
    "getitem_repeated": (lambda a: a[[0, 0, 2]] * 2, [(3, 4)]),
    "tanh_sigmoid": (lambda a: a.tanh() * a.sigmoid(), [(5,)]),
    "cat_stack": (lambda a, b: cl.stack([cl.cat([a, b], 0), cl.cat([b, a], 0)]), [(2, 3), (2, 3)]),
}


@pytest.mark.parametrize("name", list(GRADCHECK_FNS))
def test_gradcheck_passes_on_correct_ops(name):
    fn, shapes = GRADCHECK_FNS[name]
    rng = np.random.default_rng(1)
    inputs = tuple(cl.tensor(rng.standard_normal(s), dtype=cl.float64, requires_grad=True) for s in shapes)
    assert cl.gradcheck(fn, inputs) is True
    # the same check by torch's gradcheck on the torch version of the function, as a sanity reference
    t_inputs = tuple(torch.tensor(to_numpy(i), dtype=torch.float64, requires_grad=True) for i in inputs)
    t_fn = {"cat_stack": lambda a, b: torch.stack([torch.cat([a, b], 0), torch.cat([b, a], 0)])}.get(name, fn)
    assert torch.autograd.gradcheck(t_fn, t_inputs)


def test_gradcheck_detects_a_wrong_gradient():
    Function = _function_class()

    class WrongSin(Function):            # course_lib's own-op contract: arrays in forward and backward
        _arrays = True

        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return _xp(a).sin(a)

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * _xp(a).cos(a) * 1.5  # wrong by a factor 1.5

    class WrongSinTorchStyle(Function):  # torch's contract: Tensors
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a.sin()

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a.cos() * 1.5

    x = cl.tensor([0.1, 0.7, -1.2], dtype=cl.float64, requires_grad=True)
    with pytest.raises(RuntimeError):
        cl.gradcheck(lambda t: WrongSin.apply(t), (x,))
    with pytest.raises(RuntimeError):
        cl.gradcheck(lambda t: WrongSinTorchStyle.apply(t), (x,))


def _xp(a):
    """numpy or cupy, whichever holds a (test-side helper; avoids depending on a private library name)."""
    mod = type(a).__module__.split(".")[0]
    return importlib.import_module("cupy") if mod == "cupy" else np


# ----------------------------------------------------------------------------------------------------------
# custom Functions and the backward invariant
# ----------------------------------------------------------------------------------------------------------
def test_custom_function_like_torch(device):
    Function = _function_class()

    class Cube(Function):
        @staticmethod
        def forward(ctx, a, k):
            ctx.save_for_backward(a)
            ctx.k = k
            return k * a ** 3

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            assert ctx.needs_input_grad[0]
            return g * 3 * ctx.k * a ** 2, None

    cx, tx = paired([0.5, -1.0, 2.0], device=device, requires_grad=True)
    cy = Cube.apply(cx, 2.0)
    assert "CubeBackward" in repr(cy.grad_fn)
    cy.sum().backward()
    (2.0 * tx ** 3).sum().backward()
    assert_same_tensor(cy.detach(), (2.0 * tx ** 3).detach())
    assert_same_tensor(cx.grad, tx.grad)


def test_custom_function_not_recorded_without_grad(device):
    Function = _function_class()

    class Double(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    cx, _ = paired([1.0, 2.0], device=device)
    y = Double.apply(cx)
    assert y.grad_fn is None and not y.requires_grad
    cx.requires_grad = True
    with cl.no_grad():
        y = Double.apply(cx)
    assert y.grad_fn is None and not y.requires_grad


def test_invariant_wrong_shape_names_the_op(device):
    """A backward that forgets to unbroadcast: the error names the op and the offending input."""
    Function = _function_class()

    class ForgetfulAdd(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, g  # b was broadcast from (4,): its grad must be summed back to (4,)

    ca, _ = paired(np.ones((3, 4)), dtype="float32", device=device, requires_grad=True)
    cb, _ = paired(np.ones(4), dtype="float32", device=device, requires_grad=True)
    y = ForgetfulAdd.apply(ca, cb)
    with pytest.raises(RuntimeError) as err:
        y.sum().backward()
    msg = str(err.value)
    assert "ForgetfulAddBackward" in msg
    assert "index 1" in msg
    assert "[3, 4]" in msg and "[4]" in msg


def test_invariant_wrong_dtype_names_the_op(device):
    Function = _function_class()

    class Upcast(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).double()  # input is float32

    cx, _ = paired([1.0, 2.0], dtype="float32", device=device, requires_grad=True)
    with pytest.raises(RuntimeError) as err:
        Upcast.apply(cx).sum().backward()
    assert "UpcastBackward" in str(err.value)


def test_invariant_catches_error_in_middle_of_graph(device):
    Function = _function_class()

    class BadSum(Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum(1)

        @staticmethod
        def backward(ctx, g):
            return g[:, None]  # shape (3, 1) instead of (3, 4)

    cx, _ = paired(np.ones((3, 4)), device=device, requires_grad=True)
    y = BadSum.apply(cx.exp()) * 2
    with pytest.raises(RuntimeError) as err:
        y.sum().backward()
    assert "BadSumBackward" in str(err.value)
    assert "index 0" in str(err.value)
