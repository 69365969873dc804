"""Chapter 15's normalization layers (course_lib.nn._normalization) against torch: F.batch_norm and F.layer_norm values
and input/weight/bias gradients in float32 and float64, on CPU and CUDA (skipped with the reason when CuPy is missing);
running statistics after several training steps (momentum, momentum=None, unbiased variance, num_batches_tracked),
evaluation outputs, the modules' options, reprs and state dicts; gradcheck; hypothesis over shapes; errors in torch's
words. torch is the reference throughout: no expected value here comes from course_lib."""
import numpy as np
import pytest
import torch
from hypothesis import given, strategies as st

import course_lib as cl
import course_lib.nn as nn
import course_lib.nn.functional as F
from helpers import assert_same_tensor

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}
rng = np.random.default_rng(0)


def _t(lib, a, dtype, device, grad):
    if a is None: return None
    if lib is cl: return cl.tensor(a, dtype=getattr(cl, dtype), device=device, requires_grad=grad)
    return torch.tensor(a, dtype=getattr(torch, dtype), device=device, requires_grad=grad)


def both(fn, tfn, arrays, dtype="float64", device="cpu", grads=None, tol=None):
    """fn on course_lib tensors, tfn on torch tensors of the same data (None stays None); compare the output and the
    gradient of every array whose `grads` flag is set (default: all)."""
    tol = tol or TOL[dtype]
    grads = grads or [True] * len(arrays)
    ours = [_t(cl, a, dtype, device, g) for a, g in zip(arrays, grads)]
    theirs = [_t(torch, a, dtype, device, g) for a, g in zip(arrays, grads)]
    out, tout = fn(*ours), tfn(*theirs)
    assert_same_tensor(out, tout, "output", **tol)
    assert out.grad_fn.name() == tout.grad_fn.name()
    g = rng.standard_normal(tuple(tout.shape))
    out.backward(_t(cl, g, dtype, device, False)); tout.backward(_t(torch, g, dtype, device, False))
    for i, (a, t) in enumerate(zip(ours, theirs)):
        if t is not None and t.requires_grad: assert_same_tensor(a.grad, t.grad, f"gradient of argument {i}", **tol)
    return ours, theirs


SHAPES = [(6, 3), (4, 3, 5), (3, 3, 4, 2), (2, 3, 1, 1)]


# ---------------------------------------------------------------- F.batch_norm
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_batch_norm_training_values_and_gradients_match_torch(shape, affine, dtype, device):
    x = rng.standard_normal(shape) * 3 + 1
    w = rng.standard_normal(3) if affine != "none" else None
    b = rng.standard_normal(3) if affine == "both" else None
    for eps in (1e-5, 0.1):
        both(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=eps),
             lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True, eps=eps),
             [x, w, b], dtype, device)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_batch_norm_eval_uses_the_running_statistics_like_torch(shape, dtype, device):
    x, w, b = rng.standard_normal(shape), rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = rng.standard_normal(3), rng.uniform(0.5, 2.0, 3)
    ours, theirs = both(lambda x, w, b, rm, rv: F.batch_norm(x, rm, rv, w, b),
                        lambda x, w, b, rm, rv: torch.nn.functional.batch_norm(x, rm, rv, w, b),
                        [x, w, b, rm, rv], dtype, device, grads=[True, True, True, False, False])
    assert ours[3].tolist() == rm.tolist() or np.allclose(ours[3].numpy(), rm.astype(dtype))   # eval changes nothing


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("momentum", [0.1, 0.5, 1.0, 0.0])
def test_batch_norm_running_statistics_after_several_steps_match_torch(momentum, dtype, device):
    rm, rv = _t(cl, np.zeros(3), dtype, device, False), _t(cl, np.ones(3), dtype, device, False)
    trm, trv = _t(torch, np.zeros(3), dtype, device, False), _t(torch, np.ones(3), dtype, device, False)
    for step in range(5):
        x = rng.standard_normal((4, 3, 2, 2)) * (step + 1) + step
        F.batch_norm(_t(cl, x, dtype, device, False), rm, rv, training=True, momentum=momentum)
        torch.nn.functional.batch_norm(_t(torch, x, dtype, device, False), trm, trv, training=True, momentum=momentum)
        assert_same_tensor(rm, trm, f"running_mean after step {step}", **TOL[dtype])
        assert_same_tensor(rv, trv, f"running_var (unbiased) after step {step}", **TOL[dtype])


# ---------------------------------------------------------------- the modules
def _bn_pair(cls, dtype="float64", device="cpu", **kw):
    ours = getattr(nn, cls)(3, **kw).to(getattr(cl, dtype)).to(device)
    theirs = getattr(torch.nn, cls)(3, **kw).to(getattr(torch, dtype)).to(device)
    if ours.weight is not None:
        w = rng.standard_normal(3)
        with cl.no_grad(): ours.weight.copy_(_t(cl, w, dtype, device, False))
        with torch.no_grad(): theirs.weight.copy_(_t(torch, w, dtype, device, False))
    return ours, theirs


MODULE_OPTIONS = [dict(), dict(momentum=0.3), dict(momentum=None), dict(affine=False), dict(bias=False),
                  dict(track_running_stats=False), dict(track_running_stats=False, momentum=None), dict(eps=1e-3)]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("cls,shape", [("BatchNorm1d", (5, 3)), ("BatchNorm1d", (4, 3, 6)), ("BatchNorm2d", (3, 3, 4, 5))], ids=str)
@pytest.mark.parametrize("options", MODULE_OPTIONS, ids=str)
def test_batch_norm_modules_train_then_eval_like_torch(cls, shape, options, dtype, device):
    ours, theirs = _bn_pair(cls, dtype, device, **options)
    for step in range(4):                                     # training: batch statistics, buffers updated
        x = rng.standard_normal(shape) * 2 + step
        a, ta = both(ours, theirs, [x], dtype, device)
        for (k, v), (tk, tv) in zip(ours.state_dict().items(), theirs.state_dict().items()):
            assert k == tk
            assert_same_tensor(v, tv, f"{k} after step {step}", **TOL[dtype])
        for name in ("weight", "bias"):
            p, tp = getattr(ours, name), getattr(theirs, name)
            assert (p is None) == (tp is None)
            if p is not None: assert_same_tensor(p.grad, tp.grad, f"{name}.grad", **TOL[dtype]); p.grad = None; tp.grad = None
    ours.eval(); theirs.eval()                                # evaluation: running statistics (if any), nothing updated
    before = {k: v.numpy().copy() for k, v in ours.state_dict().items()}
    both(ours, theirs, [rng.standard_normal(shape)], dtype, device)
    assert all(np.array_equal(before[k], v.numpy()) for k, v in ours.state_dict().items())


def test_batch_norm_module_defaults_reprs_buffers_and_state_dict_match_torch():
    for kw in MODULE_OPTIONS:
        for cls in ("BatchNorm1d", "BatchNorm2d"):
            ours, theirs = getattr(nn, cls)(4, **kw), getattr(torch.nn, cls)(4, **kw)
            assert repr(ours) == repr(theirs)
            assert list(ours.state_dict()) == list(theirs.state_dict())
            assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
            assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()]
            for (k, v), tv in zip(ours.state_dict().items(), theirs.state_dict().values()):
                assert v.tolist() == tv.tolist() and str(v.dtype).split(".")[-1] == str(tv.dtype).split(".")[-1], k
    bn = nn.BatchNorm2d(3).double()
    assert bn.running_mean.dtype == cl.float64 and bn.num_batches_tracked.dtype == cl.int64
    assert nn.BatchNorm1d(3, dtype=cl.float64).weight.dtype == cl.float64


def test_batch_norm_loads_torchs_state_dict_and_evaluates_the_same():
    theirs = torch.nn.BatchNorm1d(3)
    for _ in range(3): theirs(torch.randn(8, 3) * 2 + 1)
    with torch.no_grad(): theirs.weight.mul_(2.0); theirs.bias.add_(0.5)
    theirs.eval()
    ours = nn.BatchNorm1d(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert ours.num_batches_tracked.item() == 3
    ours.eval()
    x = rng.standard_normal((5, 3)).astype(np.float32)
    assert_same_tensor(ours(cl.tensor(x)), theirs(torch.tensor(x)).detach(), "eval output", **TOL["float32"])


def test_train_and_eval_switch_batch_norm_and_dropout_inside_a_model():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4, 2))
    x = cl.randn(6, 4)
    model.eval()
    assert np.array_equal(model(x).detach().numpy(), model(x).detach().numpy())     # deterministic in eval
    assert model[1].num_batches_tracked.item() == 0
    model.train()
    model(x)
    assert model[1].num_batches_tracked.item() == 1


# ---------------------------------------------------------------- F.layer_norm and LayerNorm
LN_CASES = [((4, 6), (6,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4)), ((2, 2, 3, 4), (2, 3, 4)), ((5,), (5,)), ((3, 1), (1,))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("shape,ns", LN_CASES, ids=str)
@pytest.mark.parametrize("affine", ["both", "weight", "none"])
def test_layer_norm_values_and_gradients_match_torch(shape, ns, affine, dtype, device):
    x = rng.standard_normal(shape) * 2 - 1
    w = rng.standard_normal(ns) if affine != "none" else None
    b = rng.standard_normal(ns) if affine == "both" else None
    # one normalized element: xhat is 0 and so is the exact input gradient; torch's float32 rounding leaves ~1e-7/sqrt(eps)
    tol = dict(rtol=1e-4, atol=1e-4) if ns == (1,) and dtype == "float32" else None
    for eps in (1e-5, 0.5):
        both(lambda x, w, b: F.layer_norm(x, ns, w, b, eps), lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b, eps),
             [x, w, b], dtype, device, tol=tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [dict(), dict(elementwise_affine=False), dict(bias=False), dict(eps=1e-3)], ids=str)
def test_layer_norm_module_matches_torch(kw, dtype, device):
    for ns, shape in ((5, (3, 5)), ((2, 5), (4, 2, 5)), ([5], (2, 5))):
        ours = nn.LayerNorm(ns, **kw).to(getattr(cl, dtype)).to(device)
        theirs = torch.nn.LayerNorm(ns, **kw).to(getattr(torch, dtype)).to(device)
        assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
        if ours.weight is not None:
            w = rng.standard_normal(ours.weight.shape)
            with cl.no_grad(): ours.weight.copy_(_t(cl, w, dtype, device, False))
            with torch.no_grad(): theirs.weight.copy_(_t(torch, w, dtype, device, False))
        both(ours, theirs, [rng.standard_normal(shape)], dtype, device)
        if ours.weight is not None: assert_same_tensor(ours.weight.grad, theirs.weight.grad, "weight.grad", **TOL[dtype])
        if ours.bias is not None: assert_same_tensor(ours.bias.grad, theirs.bias.grad, "bias.grad", **TOL[dtype])
        ours.eval(); theirs.eval()
        both(ours, theirs, [rng.standard_normal(shape)], dtype, device)        # no running state: eval is the same computation


# ---------------------------------------------------------------- gradcheck and hypothesis
def test_gradcheck_batch_norm_and_layer_norm():
    t = lambda *s: cl.tensor(rng.standard_normal(s), dtype=cl.float64, requires_grad=True)
    assert cl.gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True), [t(5, 3, 2), t(3), t(3)])
    rm, rv = cl.tensor(rng.standard_normal(3)), cl.tensor(rng.uniform(0.5, 2, 3))
    assert cl.gradcheck(lambda x, w, b: F.batch_norm(x, rm, rv, w, b), [t(4, 3), t(3), t(3)])
    assert cl.gradcheck(lambda x, w, b: F.layer_norm(x, (3, 2), w, b), [t(4, 3, 2), t(3, 2), t(3, 2)])
    assert cl.gradcheck(lambda x: F.layer_norm(x, (4,), eps=0.1), [t(2, 3, 4)])


@given(n=st.integers(2, 5), c=st.integers(1, 4), spatial=st.lists(st.integers(1, 4), max_size=2), seed=st.integers(0, 2**16),
       scale=st.sampled_from([0.01, 1.0, 100.0]))
def test_batch_norm_over_random_shapes_matches_torch(n, c, spatial, seed, scale):
    r = np.random.default_rng(seed)
    x, w, b = r.standard_normal((n, c, *spatial)) * scale, r.standard_normal(c), r.standard_normal(c)
    both(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
         lambda x, w, b: torch.nn.functional.batch_norm(x, None, None, w, b, training=True), [x, w, b])


@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), k=st.integers(1, 4), seed=st.integers(0, 2**16),
       scale=st.sampled_from([0.01, 1.0, 100.0]))
def test_layer_norm_over_random_shapes_matches_torch(shape, k, seed, scale):
    ns = tuple(shape[-min(k, len(shape)):])
    r = np.random.default_rng(seed)
    x, w, b = r.standard_normal(shape) * scale, r.standard_normal(ns), r.standard_normal(ns)
    # one normalized element: ours is exactly 0 there; torch's x - mean leaves rounding, magnified by 1/sqrt(eps)
    tol = dict(rtol=1e-10, atol=1e-9) if int(np.prod(ns)) == 1 else None
    both(lambda x, w, b: F.layer_norm(x, ns, w, b), lambda x, w, b: torch.nn.functional.layer_norm(x, ns, w, b), [x, w, b], tol=tol)


# ---------------------------------------------------------------- errors, in torch's words
def _same_error(call):
    with pytest.raises(Exception) as e: call(cl, F, nn)
    with pytest.raises(Exception) as te: call(torch, torch.nn.functional, torch.nn)
    assert type(e.value) is type(te.value)
    assert str(e.value).replace("course_lib.", "torch.") == str(te.value)


@pytest.mark.parametrize("call", [
    lambda lib, F, nn: F.batch_norm(lib.randn(1, 3), None, None, training=True),
    lambda lib, F, nn: F.batch_norm(lib.randn(1, 3, 1, 1), None, None, training=True),
    lambda lib, F, nn: F.batch_norm(lib.randn(4, 3), None, None, training=False),
    lambda lib, F, nn: F.batch_norm(lib.randn(4, 3), lib.zeros(4), lib.ones(4), training=True),
    lambda lib, F, nn: F.batch_norm(lib.randn(4, 3), lib.zeros(3), lib.ones(3), weight=lib.ones(4)),
    lambda lib, F, nn: F.batch_norm(lib.randn(4, 3), lib.zeros(3), lib.ones(3), bias=lib.ones(4)),
    lambda lib, F, nn: F.batch_norm(lib.randn(4), None, None, training=True),
    lambda lib, F, nn: nn.BatchNorm1d(3)(lib.randn(4, 3, 2, 2)),
    lambda lib, F, nn: nn.BatchNorm2d(3)(lib.randn(4, 3)),
    lambda lib, F, nn: nn.BatchNorm1d(3)(lib.randn(4, 5)),
    lambda lib, F, nn: nn.BatchNorm1d(3)(lib.randn(1, 3)),
    lambda lib, F, nn: nn.BatchNorm1d(3)(lib.tensor([[1, 2, 3], [4, 5, 6]])),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), [5]),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), (2, 3, 4)),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), [3], weight=lib.ones(4)),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), [3], bias=lib.ones(4)),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), 3),
    lambda lib, F, nn: F.layer_norm(lib.randn(2, 3), []),
    lambda lib, F, nn: F.layer_norm(lib.tensor([[1, 2, 3]]), [3]),
    lambda lib, F, nn: nn.LayerNorm(3)(lib.randn(2, 4)),
])
def test_errors_match_torch(call):
    _same_error(call)


def test_a_batch_of_one_is_fine_in_eval_mode_like_torch():
    ours, theirs = nn.BatchNorm1d(3).eval(), torch.nn.BatchNorm1d(3).eval()
    x = rng.standard_normal((1, 3)).astype(np.float32)
    assert_same_tensor(ours(cl.tensor(x)), theirs(torch.tensor(x)).detach(), "eval output of one sample", **TOL["float32"])
