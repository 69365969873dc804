"""Chapter 13's convolution, pooling and padding (course_lib.nn._conv) against torch: values, input and parameter
gradients in float32 and float64, on CPU and CUDA (skipped with the reason when CuPy is missing); hypothesis over
shapes, strides, paddings, dilations and groups; gradcheck; the layers' init and reprs; errors in torch's words."""
import math
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import course_lib as cl
import course_lib.nn as nn
import course_lib.nn.functional as F
from helpers import assert_same_tensor, torch_device

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}


def both(fn, tfn, arrays, dtype="float64", device="cpu", grad=True, **kw):
    "Run fn on course_lib tensors and tfn on torch tensors of the same data; compare the output and every input's gradient."
    ours = [cl.tensor(a, dtype=getattr(cl, dtype), device=device, requires_grad=grad) for a in arrays]
    theirs = [torch.tensor(a, dtype=getattr(torch, dtype), device=torch_device(device), requires_grad=grad) for a in arrays]
    out, tout = fn(*ours, **kw), tfn(*theirs, **kw)
    assert_same_tensor(out, tout, "output", **TOL[dtype])
    if not grad: return out, tout
    assert (out.grad_fn is None) == (tout.grad_fn is None)
    g = np.random.default_rng(1).standard_normal(tuple(tout.shape))
    out.backward(cl.tensor(g, dtype=getattr(cl, dtype), device=device))
    tout.backward(torch.tensor(g, dtype=getattr(torch, dtype), device=torch_device(device)))
    for i, (a, t) in enumerate(zip(ours, theirs)):
        assert_same_tensor(a.grad, t.grad, f"gradient of argument {i}", **TOL[dtype])
    return out, tout


rng = np.random.default_rng(0)
CONV2D = [
    dict(), dict(stride=2), dict(padding=1), dict(padding=(2, 0)), dict(padding="valid"), dict(padding="same", dilation=(2, 1)),
    dict(dilation=2), dict(dilation=(1, 2), padding=(1, 2)), dict(stride=(2, 1), padding=1, dilation=2),
    dict(groups=2), dict(groups=4, padding="same"), dict(groups=2, stride=2, padding=1, dilation=(2, 1)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")   # torch's note that it copies the input
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", CONV2D, ids=str)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_torch(options, dtype, bias, device):
    g = options.get("groups", 1)
    x, w, b = rng.standard_normal((2, 4, 9, 8)), rng.standard_normal((8, 4 // g, 3, 2)), rng.standard_normal(8)
    if bias: both(F.conv2d, torch.nn.functional.conv2d, [x, w, b], dtype, device, **options)
    else: both(lambda x, w: F.conv2d(x, w, None, **options), lambda x, w: torch.nn.functional.conv2d(x, w, None, **options),
               [x, w], dtype, device)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [dict(), dict(stride=3), dict(padding=2), dict(padding="same", dilation=3),
                                     dict(groups=2, stride=2, dilation=2)], ids=str)
def test_conv1d_matches_torch(options, dtype, device):
    g = options.get("groups", 1)
    both(F.conv1d, torch.nn.functional.conv1d, [rng.standard_normal((3, 4, 11)), rng.standard_normal((6, 4 // g, 3)),
                                                rng.standard_normal(6)], dtype, device, **options)


def test_unbatched_inputs_match_torch():
    both(F.conv2d, torch.nn.functional.conv2d, [rng.standard_normal((3, 6, 6)), rng.standard_normal((2, 3, 3, 3))])
    both(F.conv1d, torch.nn.functional.conv1d, [rng.standard_normal((3, 7)), rng.standard_normal((2, 3, 2))])
    both(lambda x: F.max_pool2d(x, 2), lambda x: torch.nn.functional.max_pool2d(x, 2), [rng.standard_normal((3, 6, 6))])
    both(lambda x: F.avg_pool2d(x, 3, 1, 1), lambda x: torch.nn.functional.avg_pool2d(x, 3, 1, 1), [rng.standard_normal((3, 6, 6))])
    both(lambda x: F.adaptive_avg_pool2d(x, 2), lambda x: torch.nn.functional.adaptive_avg_pool2d(x, 2), [rng.standard_normal((3, 5, 6))])


@given(n=st.integers(1, 3), g=st.sampled_from([1, 2, 3]), cg=st.integers(1, 2), og=st.integers(1, 2),
       h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4), kw=st.integers(1, 4),
       sh=st.integers(1, 3), sw=st.integers(1, 3), ph=st.integers(0, 2), pw=st.integers(0, 2),
       dh=st.integers(1, 3), dw=st.integers(1, 3), seed=st.integers(0, 2**16))
def test_conv2d_property_matches_torch(n, g, cg, og, h, w, kh, kw, sh, sw, ph, pw, dh, dw, seed):
    r = np.random.default_rng(seed)
    x, wt, b = r.standard_normal((n, g * cg, h, w)), r.standard_normal((g * og, cg, kh, kw)), r.standard_normal(g * og)
    kw_ = dict(stride=(sh, sw), padding=(ph, pw), dilation=(dh, dw), groups=g)
    if (dh * (kh - 1) + 1 > h + 2 * ph) or (dw * (kw - 1) + 1 > w + 2 * pw):     # the filter does not fit: both refuse
        with pytest.raises(RuntimeError) as ours: F.conv2d(cl.tensor(x), cl.tensor(wt), cl.tensor(b), **kw_)
        with pytest.raises(RuntimeError) as theirs: torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(wt), torch.tensor(b), **kw_)
        assert str(ours.value) == str(theirs.value)
        return
    both(F.conv2d, torch.nn.functional.conv2d, [x, wt, b], **kw_)


@given(n=st.integers(1, 2), c=st.integers(1, 3), h=st.integers(1, 9), w=st.integers(1, 9), kh=st.integers(1, 4),
       kw=st.integers(1, 4), s=st.integers(1, 3), p=st.integers(0, 2), d=st.integers(1, 2), ceil=st.booleans(),
       ties=st.booleans(), seed=st.integers(0, 2**16))
def test_pooling_property_matches_torch(n, c, h, w, kh, kw, s, p, d, ceil, ties, seed):
    r = np.random.default_rng(seed)
    x = r.integers(0, 3, (n, c, h, w)).astype(np.float64) if ties else r.standard_normal((n, c, h, w))   # ties: few distinct values
    kw_ = dict(kernel_size=(kh, kw), stride=s, padding=p, ceil_mode=ceil)
    for ours_fn, theirs_fn, extra in [(F.max_pool2d, torch.nn.functional.max_pool2d, dict(dilation=d)),
                                      (F.avg_pool2d, torch.nn.functional.avg_pool2d, dict(count_include_pad=bool(seed % 2)))]:
        try: tout = theirs_fn(torch.tensor(x), **kw_, **extra)
        except RuntimeError as e:
            with pytest.raises(RuntimeError) as ours: ours_fn(cl.tensor(x), **kw_, **extra)
            assert str(ours.value) == str(e)
            continue
        # a dilated window can fall entirely into the padding: torch gives -inf there, and its backward reads out of
        # bounds (it aborts the process), so such cases compare the values only
        both(ours_fn, theirs_fn, [x], grad=bool(torch.isfinite(tout).all()), **kw_, **extra)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_max_pool2d_indices_ties_and_overlaps_match_torch(dtype, device):
    x = np.array([[[[3., 3., 1.], [1., 2., 3.], [0., 3., 3.]]]])             # ties everywhere, overlapping 2x2 windows
    both(lambda x: F.max_pool2d(x, 2, 1), lambda x: torch.nn.functional.max_pool2d(x, 2, 1), [x], dtype, device)
    for options in [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(2, 3), dilation=(2, 1), ceil_mode=True)]:
        xx = rng.standard_normal((2, 3, 7, 8))
        _, i = F.max_pool2d(cl.tensor(xx, device=device), return_indices=True, **options)
        _, ti = torch.nn.functional.max_pool2d(torch.tensor(xx), return_indices=True, **options)
        assert_same_tensor(i.cpu(), ti, "indices")


@pytest.mark.parametrize("size", [1, 2, 3, (4, None), (None, 2), (5, 7)], ids=str)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adaptive_avg_pool2d_matches_torch(size, dtype, device):
    both(lambda x: F.adaptive_avg_pool2d(x, size), lambda x: torch.nn.functional.adaptive_avg_pool2d(x, size),
         [rng.standard_normal((2, 3, 7, 5))], dtype, device)


@pytest.mark.parametrize("pad", [(1, 2), (0, 0, 3, 1), (-1, 2, 1, -2), (1, 1, 1, 1, 1, 1)], ids=str)
@pytest.mark.parametrize("value", [None, 0.5])
def test_pad_matches_torch(pad, value, device):
    both(lambda x: F.pad(x, pad, value=value), lambda x: torch.nn.functional.pad(x, pad, value=value),
         [rng.standard_normal((2, 3, 4, 5))], device=device)


def test_node_names_are_torchs():
    x = cl.randn(1, 2, 6, 6, requires_grad=True)
    tx = torch.randn(1, 2, 6, 6, requires_grad=True)
    for f in [lambda L, x: L.nn.functional.conv2d(x, L.ones(3, 2, 3, 3)), lambda L, x: L.nn.functional.conv1d(x[0], L.ones(3, 6, 3)),
              lambda L, x: L.nn.functional.max_pool2d(x, 2), lambda L, x: L.nn.functional.avg_pool2d(x, 2),
              lambda L, x: L.nn.functional.adaptive_avg_pool2d(x, 4), lambda L, x: L.nn.functional.pad(x, (1, 1))]:
        assert f(cl, x).grad_fn.name() == type(f(torch, tx).grad_fn).__name__


def test_gradcheck_conv_and_pools():
    r = np.random.default_rng(3)
    t = lambda *s: cl.tensor(r.standard_normal(s), dtype=cl.float64, requires_grad=True)
    assert cl.gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2),
                        [t(2, 4, 6, 7), t(4, 2, 3, 2), t(4)])
    assert cl.gradcheck(lambda x, w: F.conv1d(x, w, padding="same", dilation=2), [t(2, 3, 7), t(2, 3, 3)])
    assert cl.gradcheck(lambda x: F.max_pool2d(x, 3, 2, 1), [t(2, 2, 7, 6)])
    assert cl.gradcheck(lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False), [t(2, 2, 7, 6)])
    assert cl.gradcheck(lambda x: F.adaptive_avg_pool2d(x, (3, 4)), [t(1, 2, 7, 6)])
    assert cl.gradcheck(lambda x: F.pad(x, (1, -1, 2, 0)), [t(2, 3, 4)])


# ---------------------------------------------------------------- layers
def test_conv_layers_init_like_torch_and_match_it_with_its_weights():
    for make in (lambda m: m.Conv2d(3, 8, 3, stride=2, padding=1, groups=1), lambda m: m.Conv2d(4, 6, (3, 2), groups=2, bias=False),
                 lambda m: m.Conv1d(2, 4, 5, padding="same", dilation=2)):
        ours, theirs = make(nn), make(torch.nn).double()
        assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
        fan_in = ours.weight[0].numel()
        assert np.abs(ours.weight.detach().numpy()).max() <= 1 / math.sqrt(fan_in)      # kaiming_uniform_(a=√5): U(±1/√fan_in)
        assert np.abs(ours.weight.detach().numpy()).max() > 0.5 / math.sqrt(fan_in)
        if ours.bias is not None: assert np.abs(ours.bias.detach().numpy()).max() <= 1 / math.sqrt(fan_in)
        ours.double().load_state_dict({k: cl.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
        x = rng.standard_normal((2, ours.in_channels) + (9,) * (ours.weight.ndim - 2))
        both(ours, theirs, [x])


def test_layer_reprs_match_torch():
    for make in [lambda m: m.Conv2d(1, 8, 3, padding=1), lambda m: m.Conv2d(4, 8, (3, 5), stride=2, dilation=2, groups=2, bias=False),
                 lambda m: m.Conv2d(2, 2, 3, padding="same"), lambda m: m.Conv2d(2, 2, 3, padding="valid"), lambda m: m.Conv1d(1, 4, 3),
                 lambda m: m.MaxPool2d(2), lambda m: m.MaxPool2d((2, 3), stride=1, padding=1, dilation=2, ceil_mode=True),
                 lambda m: m.AvgPool2d(3, 1, 1), lambda m: m.AvgPool2d(2, ceil_mode=True, count_include_pad=False),
                 lambda m: m.AdaptiveAvgPool2d(1), lambda m: m.AdaptiveAvgPool2d((2, None)), lambda m: m.Flatten(),
                 lambda m: m.Flatten(0, 2), lambda m: m.Unflatten(1, (2, 5))]:
        assert repr(make(nn)) == repr(make(torch.nn))


def test_pool_and_shape_layers_match_torch():
    x = rng.standard_normal((2, 3, 6, 6))
    for make in [lambda m: m.MaxPool2d(2), lambda m: m.MaxPool2d(3, 2, 1), lambda m: m.AvgPool2d(2), lambda m: m.AvgPool2d(3, 1, 1, count_include_pad=False),
                 lambda m: m.AdaptiveAvgPool2d((2, 3)), lambda m: m.Flatten(), lambda m: m.Flatten(2), lambda m: m.Unflatten(1, (3, 1)),
                 lambda m: m.Sequential(m.Flatten(), m.Unflatten(1, (3, -1, 6)))]:
        both(make(nn), make(torch.nn), [x])
    out, idx = nn.MaxPool2d(2, return_indices=True)(cl.tensor(x))
    tout, tidx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    assert_same_tensor(idx, tidx, "indices")


def test_lenet_on_digit_shapes_matches_torch():
    make = lambda m: m.Sequential(m.Conv2d(1, 6, 3, padding=1), m.ReLU(), m.MaxPool2d(2), m.Conv2d(6, 16, 3, padding=1), m.ReLU(),
                                  m.MaxPool2d(2), m.Flatten(), m.Linear(64, 10))
    torch.manual_seed(0)
    theirs = make(torch.nn).double()
    ours = make(nn).double()
    ours.load_state_dict({k: cl.tensor(v.detach().numpy()) for k, v in theirs.state_dict().items()})
    x = rng.standard_normal((4, 1, 8, 8))
    out, tout = ours(cl.tensor(x)), theirs(torch.tensor(x))
    assert_same_tensor(out, tout.detach(), "output", **TOL["float64"])
    out.sum().backward(); tout.sum().backward()
    for (k, p), tp in zip(ours.named_parameters(), theirs.parameters()): assert_same_tensor(p.grad, tp.grad, k, **TOL["float64"])


# ---------------------------------------------------------------- errors
def _same_error(ours, theirs, kind=RuntimeError):
    with pytest.raises(kind) as a: ours()
    with pytest.raises(kind) as b: theirs()
    assert str(a.value) == str(b.value)


@pytest.mark.parametrize("case", [
    lambda L, x, w: L.nn.functional.conv2d(x(2, 4, 8, 8), w(8, 3, 3, 3)),                       # wrong channels: both numbers
    lambda L, x, w: L.nn.functional.conv2d(x(8, 8), w(8, 3, 3, 3)),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 2, 2), w(8, 3, 3, 3)),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), stride=2, padding="same"),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), padding="foo"),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 4, 8, 8), w(3, 2, 3, 3), groups=2),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), w(7)),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), stride=0),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), padding=-1),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), dilation=0),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8).double(), w(8, 3, 3, 3)),
    lambda L, x, w: L.nn.functional.conv2d(x(2, 3, 8, 8), w(8, 3, 3, 3), w(8).double()),
    lambda L, x, w: L.nn.functional.conv1d(x(2, 3), w(8, 3, 3)),
    lambda L, x, w: L.nn.Conv2d(3, 8, 3)(x(2, 4, 8, 8)),
    lambda L, x, w: L.nn.functional.max_pool2d(x(2, 3, 8, 8), 3, padding=2),
    lambda L, x, w: L.nn.functional.max_pool2d(x(2, 3, 8, 8), 9),
    lambda L, x, w: L.nn.functional.max_pool2d(x(8, 8), 2),
    lambda L, x, w: L.nn.functional.avg_pool2d(x(2, 3, 8, 8), 3, padding=2),
    lambda L, x, w: L.nn.functional.adaptive_avg_pool2d(x(8, 8), 3),
    lambda L, x, w: L.nn.functional.pad(x(2, 3), (1,)),
    lambda L, x, w: L.nn.functional.pad(x(2, 3), (1, 1, 1, 1, 1, 1)),
])
def test_errors_in_torchs_words(case):
    mk = lambda L: (lambda *s: L.randn(*s))
    _same_error(lambda: case(cl, mk(cl), mk(cl)), lambda: case(torch, mk(torch), mk(torch)))


@pytest.mark.parametrize("make", [lambda m: m.Conv2d(3, 8, 3, groups=2), lambda m: m.Conv2d(4, 9, 3, groups=2),
                                  lambda m: m.Conv2d(3, 8, 3, padding="foo"), lambda m: m.Conv2d(3, 8, 3, stride=2, padding="same")])
def test_layer_argument_errors_in_torchs_words(make):
    _same_error(lambda: make(nn), lambda: make(torch.nn), ValueError)


def test_windows_is_a_view_and_col2im_its_adjoint():
    from course_lib.nn._conv import _windows, _col2im
    x = rng.standard_normal((2, 3, 9, 8))
    win = _windows(x, (3, 2), (2, 1), (1, 2))
    assert np.shares_memory(win, x)
    ref = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))[:, :, ::2, :, :, ::2]
    assert np.array_equal(win, ref)
    c = rng.standard_normal(win.shape)
    assert np.isclose((win * c).sum(), (x * _col2im(c, x.shape, (2, 1), (1, 2))).sum(), rtol=1e-12)
