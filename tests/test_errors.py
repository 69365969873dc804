"""Every error rule of the API: course_lib raises where torch raises, with the same exception class and torch's
words (plus the extra context DESIGN.md asks for, e.g. both shapes and the op for a broadcasting error).

The expected message is always taken from torch at run time (never copied from course_lib).
"""
import numpy as np
import pytest
import torch

import course_lib as cl
from conftest import CUDA_MISSING, HAS_CUDA
from helpers import assert_same_tensor, cl_F, paired, to_numpy


def torch_error(fn):
    """Run fn, which must raise; return the exception (the reference)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - we want whatever torch raises
        return e
    raise AssertionError("torch did not raise: the test itself is wrong")


def expect_like_torch(c_fn, t_fn, *, contains=None, same_message=True):
    """course_lib must raise an instance of torch's exception class; its message must contain torch's."""
    t_exc = torch_error(t_fn)
    with pytest.raises(Exception) as info:
        c_fn()
    c_exc = info.value
    assert isinstance(c_exc, type(t_exc)), \
        f"course_lib raised {type(c_exc).__name__}({c_exc}), torch raises {type(t_exc).__name__}({t_exc})"
    if same_message:
        assert str(t_exc) in str(c_exc), f"course_lib's message {str(c_exc)!r} lacks torch's {str(t_exc)!r}"
    for part in contains or ():
        assert part in str(c_exc), f"{part!r} not in {str(c_exc)!r}"
    return c_exc


# ----------------------------------------------------------------------------------------------------------
# broadcasting: torch's message + both shapes + the op
# ----------------------------------------------------------------------------------------------------------
BINARY_ERR = {
    "add": (lambda a, b: a + b, "add"),
    "sub": (lambda a, b: a - b, "sub"),
    "mul": (lambda a, b: a * b, "mul"),
    "div": (lambda a, b: a / b, "div"),
    "pow": (lambda a, b: a ** b, "pow"),
    "radd_order": (lambda a, b: b + a, "add"),
    "lt": (lambda a, b: a < b, None),
    "eq": (lambda a, b: a == b, None),
}


@pytest.mark.parametrize("op", list(BINARY_ERR))
def test_incompatible_shapes_names_both_shapes(device, op):
    fn, opname = BINARY_ERR[op]
    ca, ta = paired(np.ones((2, 3)), dtype="float32", device=device)
    cb, tb = paired(np.ones(4) + 1, dtype="float32", device=device)
    exc = expect_like_torch(lambda: fn(ca, cb), lambda: fn(ta, tb), contains=["(2, 3)", "(4,)"])
    if opname is not None:
        assert opname in str(exc)


def test_incompatible_shapes_3d_names_both_shapes(device):
    ca, ta = paired(np.ones((2, 3, 4)), dtype="float32", device=device, requires_grad=True)
    cb, tb = paired(np.ones((5, 1)), dtype="float32", device=device)
    expect_like_torch(lambda: ca * cb, lambda: ta * tb, contains=["(2, 3, 4)", "(5, 1)"])


def test_incompatible_shapes_maximum_and_where(device):
    ca, ta = paired(np.ones((2, 3)), dtype="float32", device=device)
    cb, tb = paired(np.ones(4), dtype="float32", device=device)
    expect_like_torch(lambda: cl.maximum(ca, cb), lambda: torch.maximum(ta, tb), contains=["(2, 3)", "(4,)"])
    expect_like_torch(lambda: cl.minimum(ca, cb), lambda: torch.minimum(ta, tb), contains=["(2, 3)", "(4,)"])
    cc, tc = paired(np.ones((2, 3), dtype=bool), device=device)
    expect_like_torch(lambda: cl.where(cc, ca, cb), lambda: torch.where(tc, ta, tb), contains=["(4,)"],
                      same_message=False)


def test_broadcast_shapes_error():
    expect_like_torch(lambda: cl.broadcast_shapes((2, 3), (4,)), lambda: torch.broadcast_shapes((2, 3), (4,)),
                      contains=["(2, 3)", "(4,)"], same_message=False)


# ----------------------------------------------------------------------------------------------------------
# matmul
# ----------------------------------------------------------------------------------------------------------
def test_matmul_2d_shapes_message(device):
    ca, ta = paired(np.ones((2, 3)), dtype="float32", device=device)
    cb, tb = paired(np.ones((4, 5)), dtype="float32", device=device)
    expect_like_torch(lambda: ca @ cb, lambda: ta @ tb)  # "mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)"
    expect_like_torch(lambda: cl.matmul(ca, cb), lambda: torch.matmul(ta, tb))


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 2, 3), (2, 4, 5)), ((2, 3), (4,)), ((3,), (4, 5)),
                                   ((), (3,))])
def test_matmul_other_shapes_raise(device, sa, sb):
    ca, ta = paired(np.ones(sa), dtype="float32", device=device)
    cb, tb = paired(np.ones(sb), dtype="float32", device=device)
    expect_like_torch(lambda: ca @ cb, lambda: ta @ tb, same_message=False)


# ----------------------------------------------------------------------------------------------------------
# backward rules
# ----------------------------------------------------------------------------------------------------------
def test_nonscalar_backward_needs_gradient(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    expect_like_torch(lambda: (cx * 2).backward(), lambda: (tx * 2).backward())


def test_backward_on_tensor_without_grad_raises(device):
    cx, tx = paired([1.0, 2.0], device=device)
    expect_like_torch(lambda: cx.sum().backward(), lambda: tx.sum().backward(), same_message=False)


def test_requires_grad_on_int_tensor(device):
    expect_like_torch(lambda: cl.tensor([1, 2], requires_grad=True, device=device),
                      lambda: torch.tensor([1, 2], requires_grad=True, device=device), same_message=False,
                      contains=["floating point"])


def test_requires_grad_setter_on_int_tensor(device):
    ci, ti = paired([1, 2], device=device)
    exc = expect_like_torch(lambda: setattr(ci, "requires_grad", True), lambda: setattr(ti, "requires_grad", True),
                            same_message=False)
    assert "floating point" in str(exc)
    expect_like_torch(lambda: ci.requires_grad_(), lambda: ti.requires_grad_(), same_message=False,
                      contains=["floating point"])


@pytest.mark.parametrize("factory", ["zeros", "ones", "arange"])
def test_requires_grad_on_int_factory(factory):
    args = {"zeros": ((3,), {"dtype": "int64"}), "ones": ((3,), {"dtype": "int64"}), "arange": ((5,), {})}[factory]
    pos, kw = args
    c_kw = {k: getattr(cl, v) for k, v in kw.items()}
    t_kw = {k: getattr(torch, v) for k, v in kw.items()}
    expect_like_torch(lambda: getattr(cl, factory)(*pos, requires_grad=True, **c_kw),
                      lambda: getattr(torch, factory)(*pos, requires_grad=True, **t_kw), same_message=False,
                      contains=["floating point"])


def test_numpy_on_requires_grad_tensor(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    if device == "cpu":
        expect_like_torch(lambda: cx.numpy(), lambda: tx.numpy())
    else:
        with pytest.raises(RuntimeError):
            cx.numpy()


def test_numpy_on_nonleaf_requiring_grad(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    if device == "cpu":
        expect_like_torch(lambda: (cx * 2).numpy(), lambda: (tx * 2).numpy())
    else:
        with pytest.raises(RuntimeError):
            (cx * 2).numpy()


# ----------------------------------------------------------------------------------------------------------
# bad dims: torch raises IndexError("Dimension out of range ...")
# ----------------------------------------------------------------------------------------------------------
BAD_DIM = {
    "sum": lambda L, x: x.sum(2),
    "sum_neg": lambda L, x: x.sum(-3),
    "sum_tuple": lambda L, x: x.sum((0, 2)),
    "mean": lambda L, x: x.mean(dim=2),
    "var": lambda L, x: x.var(2),
    "std": lambda L, x: x.std(-3),
    "max": lambda L, x: x.max(2),
    "min": lambda L, x: x.min(-3),
    "amax": lambda L, x: x.amax(2),
    "argmax": lambda L, x: x.argmax(2),
    "argmin": lambda L, x: x.argmin(-3),
    "softmax": lambda L, x: x.softmax(2),
    "log_softmax": lambda L, x: L.log_softmax(x, -3),
    "logsumexp": lambda L, x: x.logsumexp(2),
    "unsqueeze": lambda L, x: x.unsqueeze(3),
    "unsqueeze_neg": lambda L, x: x.unsqueeze(-4),
    "squeeze": lambda L, x: x.squeeze(2),
    "transpose": lambda L, x: x.transpose(0, 2),
    "flatten": lambda L, x: x.flatten(0, 2),
    "cat": lambda L, x: L.cat([x, x], 2),
    "stack": lambda L, x: L.stack([x, x], 3),
}


@pytest.mark.parametrize("op", list(BAD_DIM))
def test_bad_dim(device, op):
    f = BAD_DIM[op]
    cx, tx = paired(np.ones((2, 3)), dtype="float32", device=device)
    exc = expect_like_torch(lambda: f(cl, cx), lambda: f(torch, tx), same_message=False)
    assert any(s in str(exc) for s in ("2", "3", "-3", "-4")), str(exc)


def test_permute_wrong_number_of_dims(device):
    cx, tx = paired(np.ones((2, 3)), dtype="float32", device=device)
    expect_like_torch(lambda: cx.permute(0, 1, 2), lambda: tx.permute(0, 1, 2), same_message=False)


def test_index_out_of_range(device):
    cx, tx = paired(np.ones((2, 3)), dtype="float32", device=device)
    expect_like_torch(lambda: cx[5], lambda: tx[5], same_message=False)


# ----------------------------------------------------------------------------------------------------------
# shape errors in shape ops (torch: RuntimeError)
# ----------------------------------------------------------------------------------------------------------
SHAPE_ERR = {
    "reshape": lambda L, x: x.reshape(4, 4),
    "view": lambda L, x: x.view(5, -1),
    "expand": lambda L, x: x.expand(3, 3),
    "cat": lambda L, x: L.cat([x, L.ones(3, 2)]),
    "stack": lambda L, x: L.stack([x, L.ones(3, 2)]),
}


@pytest.mark.parametrize("op", list(SHAPE_ERR))
def test_shape_op_errors(op):
    f = SHAPE_ERR[op]
    cx, tx = paired(np.ones((2, 3)), dtype="float32")
    expect_like_torch(lambda: f(cl, cx), lambda: f(torch, tx), same_message=False)


def test_bool_of_many_elements():
    cx, tx = paired([1.0, 2.0], dtype="float32")
    expect_like_torch(lambda: bool(cx), lambda: bool(tx))
    expect_like_torch(lambda: bool(cx > 0), lambda: bool(tx > 0))


def test_item_on_many_elements():
    cx, tx = paired([1.0, 2.0], dtype="float32")
    expect_like_torch(lambda: cx.item(), lambda: tx.item(), same_message=False)


# ----------------------------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("bad", [5, 3])
def test_loss_target_out_of_range(device, loss, bad):
    cx, tx = paired(np.zeros((2, 3)), dtype="float32", device=device, requires_grad=True)
    ct, tt = paired(np.array([0, bad]), device=device)
    c_fn = lambda: getattr(cl_F(), loss)(cx, ct)  # noqa: E731
    t_fn = lambda: getattr(torch.nn.functional, loss)(tx, tt)  # noqa: E731
    if device == "cpu":
        expect_like_torch(c_fn, t_fn)  # IndexError: Target 5 is out of bounds.
    else:  # torch on CUDA reports this through a device-side assert; course_lib still says it plainly
        with pytest.raises(IndexError) as err:
            c_fn()
        assert f"Target {bad} is out of bounds." in str(err.value)


# ----------------------------------------------------------------------------------------------------------
# in-place ops
# ----------------------------------------------------------------------------------------------------------
INPLACE = {
    "add_": lambda x: x.add_(1.0),
    "sub_": lambda x: x.sub_(1.0),
    "mul_": lambda x: x.mul_(2.0),
    "div_": lambda x: x.div_(2.0),
    "zero_": lambda x: x.zero_(),
    "fill_": lambda x: x.fill_(3.0),
    "iadd": lambda x: x.__iadd__(1.0),
    "isub": lambda x: x.__isub__(1.0),
    "imul": lambda x: x.__imul__(2.0),
    "itruediv": lambda x: x.__itruediv__(2.0),
}


@pytest.mark.parametrize("op", list(INPLACE))
def test_inplace_on_leaf_requiring_grad(device, op):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    expect_like_torch(lambda: INPLACE[op](cx), lambda: INPLACE[op](tx))
    assert cx.requires_grad and cx.is_leaf


def test_copy_into_leaf_requiring_grad(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    cy, ty = paired([3.0, 4.0], device=device)
    expect_like_torch(lambda: cx.copy_(cy), lambda: tx.copy_(ty))


def test_augmented_assignment_on_leaf(device):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)

    def c_fn():
        nonlocal cx
        cx += 1

    def t_fn():
        nonlocal tx
        tx += 1

    expect_like_torch(c_fn, t_fn)


@pytest.mark.parametrize("op", ["add_", "mul_", "iadd"])
def test_inplace_on_nonleaf_requiring_grad_is_recorded_like_torch(device, op):
    """An in-place op on a computed tensor joins the graph (torch rebases its history): same values and gradients."""
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    cy, ty = cx * 2, tx * 2
    INPLACE[op](cy); INPLACE[op](ty)
    (cy * cx).sum().backward(); (ty * tx).sum().backward()
    assert cy.grad_fn is not None and ty.grad_fn is not None
    assert np.allclose(to_numpy(cy), ty.detach().numpy()) and np.allclose(to_numpy(cx.grad), tx.grad.numpy())


@pytest.mark.parametrize("op", ["add_", "mul_", "zero_", "fill_", "iadd"])
def test_inplace_allowed_under_no_grad_and_without_grad(device, op):
    cx, tx = paired([1.0, 2.0], device=device, requires_grad=True)
    with cl.no_grad():
        INPLACE[op](cx)
    with torch.no_grad():
        INPLACE[op](tx)
    assert_same_tensor(cx.detach(), tx.detach())
    cp, tp = paired([1.0, 2.0], device=device)
    INPLACE[op](cp)
    INPLACE[op](tp)
    assert_same_tensor(cp, tp)


# ----------------------------------------------------------------------------------------------------------
# devices
# ----------------------------------------------------------------------------------------------------------
CUDA_FACTORIES = {
    "tensor": lambda: cl.tensor([1.0, 2.0], device="cuda"),
    "tensor_cuda0": lambda: cl.tensor([1.0, 2.0], device="cuda:0"),
    "zeros": lambda: cl.zeros(2, 3, device="cuda"),
    "randn": lambda: cl.randn(2, device="cuda"),
    "to": lambda: cl.tensor([1.0]).to("cuda"),
    "cuda_method": lambda: cl.tensor([1.0]).cuda(),
}


@pytest.mark.skipif(HAS_CUDA, reason="CUDA is available here: the missing-CUDA error cannot be provoked")
@pytest.mark.parametrize("how", list(CUDA_FACTORIES))
def test_missing_cuda_error_says_what_is_missing(how):
    try:
        import cupy  # noqa: F401
        cupy_ok = True
    except Exception:
        cupy_ok = False
    with pytest.raises(RuntimeError) as err:
        CUDA_FACTORIES[how]()
    msg = str(err.value)
    if not cupy_ok:
        assert "cupy" in msg.lower(), msg
        assert "pip install" in msg and "cupy-cuda12x" in msg, msg
    else:
        assert "GPU" in msg, msg


def test_device_objects_do_not_need_cuda():
    d = cl.device("cuda:0")
    assert d.type == "cuda" and d.index == 0 and str(d) == str(torch.device("cuda:0"))
    d = cl.device("cuda")
    assert d.type == "cuda" and str(d) == str(torch.device("cuda"))


@pytest.mark.skipif(not HAS_CUDA, reason=f"cuda: {CUDA_MISSING}")
def test_mixed_devices_cuda():
    ca, ta = paired([1.0, 2.0], device="cpu")
    cb, tb = paired([1.0, 2.0], device="cuda")
    for cf, tf in [(lambda: ca + cb, lambda: ta + tb), (lambda: cb * ca, lambda: tb * ta),
                   (lambda: cl.maximum(ca, cb), lambda: torch.maximum(ta, tb))]:
        exc = expect_like_torch(cf, tf, same_message=False)
        msg = str(exc)
        assert "Expected all tensors to be on the same device" in msg
        assert "cpu" in msg and "cuda:0" in msg


@pytest.mark.skipif(not HAS_CUDA, reason=f"cuda: {CUDA_MISSING}")
def test_numpy_on_cuda_tensor_cuda():
    cx, tx = paired([1.0, 2.0], device="cuda")
    expect_like_torch(lambda: cx.numpy(), lambda: tx.numpy())
