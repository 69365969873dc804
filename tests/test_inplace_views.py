"""Issue 12's regression suite: in-place ops, views and the version counter, each program run on torch and on course_lib.

Every case is one function of `lib` (torch or course_lib) that returns what a student would look at (values, gradients,
`requires_grad`, `grad_fn`'s name, versions, strides) or raises. The two libraries must agree: the same values (float64,
tight), or the same error (type and the start of torch's message). torch is the only reference.
"""
import re
import warnings

import numpy as np
import pytest
import torch

import course_lib as cl


def _plain(x):
    "What to compare: tensors as (values, dtype name), node names without torch's/our decorations, the rest as is."
    if isinstance(x, (torch.Tensor, cl.Tensor)):
        return ("tensor", x.detach().cpu().numpy().tolist(), str(x.dtype).split(".")[-1])
    if isinstance(x, (tuple, list)): return type(x)(_plain(v) for v in x)
    if isinstance(x, dict): return {k: _plain(v) for k, v in x.items()}
    return x


def _outcome(case, lib):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return "ok", _plain(case(lib))
    except (RuntimeError, IndexError, TypeError, ValueError) as e:
        # torch's messages name its own types; compare the part that says what went wrong
        msg = re.sub(r"torch\.\w+Tensor|\[\w+\.\w+Tensor \[[\d, ]*\]\]", "T", str(e).split("\n")[0])
        return "raised", type(e).__name__, msg[:70]


def _name(fn):
    "The node's name as the tensor's repr shows it (torch's `name()` prefixes its C++-only nodes with `torch::autograd::`)."
    return None if fn is None else fn.name().removeprefix("torch::autograd::")


# --- the examples ---------------------------------------------------------------------------------------------
def accumulate_into_buffer(lib):
    w = lib.tensor([1., 2., 3.], dtype=lib.float64, requires_grad=True)
    acc = lib.zeros(3, dtype=lib.float64)
    acc += w * 2
    rg = acc.requires_grad
    (acc * w).sum().backward()
    return rg, w.grad


def no_grad_overwrite_then_backward(lib):
    w = lib.tensor([1., 2.], dtype=lib.float64, requires_grad=True)
    loss = (w * w).sum()
    with lib.no_grad(): w -= 0.5 * w
    loss.backward()
    return w.grad


def setitem_rows(lib):
    w = lib.tensor([1., 2., 3.], dtype=lib.float64, requires_grad=True)
    out = lib.zeros(3, dtype=lib.float64)
    for i in range(3): out[i] = w[i] * 2
    (out * out).sum().backward()
    return out, w.grad, _name(out.grad_fn)


def copy_into_buffer(lib):
    w = lib.tensor([1., 2.], dtype=lib.float64, requires_grad=True)
    buf = lib.zeros(2, dtype=lib.float64)
    buf.copy_(w * 2)
    (buf ** 2).sum().backward()
    return buf, w.grad, _name(buf.grad_fn)


def fill_from_tensor(lib):
    w = lib.tensor([1.5, 2.], dtype=lib.float64, requires_grad=True)
    buf = lib.zeros(3, dtype=lib.float64)
    buf.fill_(w[0])
    (buf * lib.tensor([1., 2., 3.], dtype=lib.float64)).sum().backward()
    return buf, w.grad


def element_view_add_under_no_grad(lib):
    W = lib.tensor([[1., 2.], [3., 4.]], dtype=lib.float64, requires_grad=True)
    with lib.no_grad(): W[0, 1].add_(0.5)
    return W, W._version


def contiguous_copy_leaves_original(lib):
    x = lib.tensor([[1., 2.], [3., 4.]], dtype=lib.float64)
    x.t().contiguous().add_(100)
    return x


def non_contiguous_view_writes_through(lib):
    x = lib.tensor([[1., 2.], [3., 4.]], dtype=lib.float64)
    x.t().add_(100)
    return x


def _twice(make):
    def case(lib):
        x = lib.tensor([[1., 5., 2.], [4., 3., 6.]], dtype=lib.float64, requires_grad=True)
        y = make(lib, x).sum()
        y.backward()
        y.backward()
        return x.grad
    case.__name__ = make.__name__
    return case


def second_backward_index(lib, x): return x[[0, 1], [2, 0]] * 2
def second_backward_gather(lib, x): return x.gather(1, lib.tensor([[0], [2]]))
def second_backward_max_dim(lib, x): return x.max(dim=1).values
def second_backward_max_dim_indices(lib, x): return x.max(1)[0] * 3
def second_backward_add(lib, x): return x + 1     # a node that saved nothing: the graph is freed all the same


def earlier_consumer_keeps_old_value(lib):
    x = lib.tensor([1., 2.], dtype=lib.float64, requires_grad=True)
    h = x * 2
    y = h + 1                    # y used h before the write: Add saved nothing, so the write is legal
    h.mul_(3)
    (y.sum() + h.sum()).backward()
    return y, h, x.grad, _name(h.grad_fn)


def modified_saved_input(lib):
    x = lib.tensor([1., 2.], dtype=lib.float64, requires_grad=True)
    h = x * 2
    y = h * h                    # Mul saved h
    h.add_(1)
    y.sum().backward()
    return x.grad


def relu_inplace_functional(lib):
    F = lib.nn.functional
    x = lib.tensor([-1., 0., 2.], dtype=lib.float64, requires_grad=True)
    h = x * 1
    F.relu(h, inplace=True)
    h.sum().backward()
    return h, x.grad, _name(h.grad_fn)


def relu_inplace_module(lib):
    x = lib.tensor([-1., 0., 2.], dtype=lib.float64, requires_grad=True)
    h = x * 2
    out = lib.nn.ReLU(inplace=True)(h)
    (out * 3).sum().backward()
    return out is h, h, x.grad


# --- views and in-place through them ------------------------------------------------------------------------------------
def expand_add_refused(lib):
    x = lib.zeros(1, 3, dtype=lib.float64).expand(2, 3)
    x.add_(1)
    return x


def view_incompatible_stride(lib):
    return lib.arange(6.).view(2, 3).t().view(6)


def unbind_inplace_refused(lib):
    x = lib.tensor([[1., 2.], [3., 4.]], dtype=lib.float64, requires_grad=True)
    a, b = (x * 1).unbind(0)
    a.mul_(2)
    return a


def view_write_updates_base_graph(lib):
    x = lib.tensor([[1., 2.], [3., 4.]], dtype=lib.float64, requires_grad=True)
    y = x * 1
    row = y[1]
    row.mul_(lib.tensor([5., 7.], dtype=lib.float64))
    y.sum().backward()
    return y, x.grad, _name(y.grad_fn)


def strides_and_offsets(lib):
    x = lib.arange(12.).view(3, 4)
    v = x[1:, ::2]
    return x.stride(), v.stride(), v.storage_offset(), v.is_contiguous(), x.t().is_contiguous(), v._base is x


def version_counter_shared(lib):
    x = lib.zeros(4)
    v = x[1:3]
    v.add_(1); x.mul_(2)
    d = x.detach(); d.add_(1)
    return x._version, v._version, d._version, x


def no_grad_view_used_after_write(lib):
    w = lib.tensor([1., 2.], dtype=lib.float64, requires_grad=True)
    with lib.no_grad():
        v = w[0]
        w.mul_(2)
    return v * 2


# --- ops whose edge cases the differential test found -------------------------------------------------------------------
def masked_fill_keeps_dtype(lib):
    x = lib.tensor([1, 2, 3])
    return x.masked_fill(lib.tensor([True, False, True]), 7)


def masked_fill_non_bool_mask(lib):
    return lib.tensor([1., 2.]).masked_fill(lib.tensor([1, 0]), 0.)


def where_python_bool(lib):
    return lib.where(True, lib.tensor([1.]), lib.tensor([2.]))


def gather_out_of_bounds(lib):
    return lib.tensor([[1., 2.]]).gather(1, lib.tensor([[2]]))


def integer_sum_is_int64(lib):
    return lib.tensor([1, 2], dtype=lib.int32).sum()


def clamp_ties_gradient(lib):
    x = lib.tensor([-1., 0., 1., 2.], dtype=lib.float64, requires_grad=True)
    x.clamp(min=lib.tensor(0., dtype=lib.float64), max=lib.tensor(1., dtype=lib.float64)).sum().backward()
    return x.grad


def relu_at_zero_and_nan(lib):
    x = lib.tensor([0., float("nan"), -1., 2.], dtype=lib.float64, requires_grad=True)
    x.relu().sum().backward()
    return x.grad


def relu_nonfinite_upstream(lib):
    # g = inf or nan where the ReLU was off must give 0 (threshold_backward), not 0 * inf = nan; where it was on, g passes
    x = lib.tensor([-1., 0., float("nan"), 2., -3., 4.], dtype=lib.float32, requires_grad=True)
    x.relu().backward(lib.tensor([float("inf"), float("nan"), float("-inf"), float("nan"), 5., float("inf")]))
    x0 = lib.tensor(-1., requires_grad=True)                          # a 0-d tensor: NumPy's products give scalars there
    x0.relu().backward(lib.tensor(float("inf")))
    return x.grad.isnan(), x.grad.nan_to_num(nan=7., posinf=8., neginf=9.), x0.grad   # nan == nan is False: apart


def setitem_leaf_refused(lib):
    w = lib.tensor([1., 2.], requires_grad=True)
    w[0] = 5.
    return w


CASES = [accumulate_into_buffer, no_grad_overwrite_then_backward, setitem_rows, copy_into_buffer, fill_from_tensor,
         element_view_add_under_no_grad, contiguous_copy_leaves_original, non_contiguous_view_writes_through,
         *[_twice(m) for m in (second_backward_index, second_backward_gather, second_backward_max_dim,
                               second_backward_max_dim_indices, second_backward_add)],
         earlier_consumer_keeps_old_value, modified_saved_input, relu_inplace_functional, relu_inplace_module,
         expand_add_refused, view_incompatible_stride, unbind_inplace_refused, view_write_updates_base_graph,
         strides_and_offsets, version_counter_shared, no_grad_view_used_after_write,
         masked_fill_keeps_dtype, masked_fill_non_bool_mask, where_python_bool, gather_out_of_bounds,
         integer_sum_is_int64, clamp_ties_gradient, relu_at_zero_and_nan, relu_nonfinite_upstream, setitem_leaf_refused]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_same_as_torch(case):
    theirs = _outcome(case, torch)
    ours = _outcome(case, cl)
    assert ours == theirs


def test_accumulate_example_gives_the_true_gradient():
    "The issue's first example, spelled out: the gradient of sum(2w * w) is 4w."
    assert _outcome(accumulate_into_buffer, cl) == ("ok", (True, ("tensor", [4., 8., 12.], "float64")))


def test_node_reprs_look_like_torch():
    x = cl.tensor([1.], requires_grad=True)
    assert re.fullmatch(r"<AddBackward0 object at 0x[0-9a-f]+>", repr((x + 1).grad_fn))
