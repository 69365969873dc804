"""course_lib.optim against torch.optim: N steps on random MLPs, every option, state, param groups, errors."""
import numpy as np
import pytest
import torch

import course_lib.nn as nn
from course_lib.optim import Optimizer, SGD, Adam
from course_lib import tensor, manual_seed, randn, no_grad, float32, float64

TORCH_DT = {float32: torch.float32, float64: torch.float64}
STEPS = 15


def to_torch(t): return torch.from_numpy(t.detach().cpu().numpy().copy())


def make_pair(dtype, seed, sizes=(4, 16, 8, 3), act=nn.Tanh, device="cpu"):
    "A random course_lib MLP and its torch twin with the same weights"
    manual_seed(seed)
    layers, tlayers = [], []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        layers += [nn.Linear(n_in, n_out, dtype=dtype), act()]
        tlayers += [torch.nn.Linear(n_in, n_out), getattr(torch.nn, act.__name__)()]
    model = nn.Sequential(*layers[:-1])
    twin = torch.nn.Sequential(*tlayers[:-1]).to(TORCH_DT[dtype])
    twin.load_state_dict({k: to_torch(v) for k, v in model.state_dict().items()})
    return model.to(device), twin.to(device)


def train_both(model, twin, opt, topt, dtype, steps=STEPS, device="cpu", loss="mse"):
    for _ in range(steps):
        x = randn(8, model[0].in_features, dtype=dtype, device=device)
        y = randn(8, model[-1].out_features, dtype=dtype, device=device)
        tx, ty = to_torch(x).to(device), to_torch(y).to(device)
        opt.zero_grad(); nn.MSELoss()(model(x), y).backward(); opt.step()
        topt.zero_grad(); torch.nn.MSELoss()(twin(tx), ty).backward(); topt.step()


def assert_params_close(model, twin, dtype):
    for (n, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert p.dtype == dtype and p.requires_grad == tp.requires_grad and p.is_leaf and p.grad_fn is None
        a, b = p.detach().cpu().numpy(), tp.detach().cpu().numpy()
        if dtype == float64: np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * 1e-5, err_msg=n)  # far inside 1e-5
        else: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=n)


SGD_OPTIONS = [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.1, momentum=0.9, dampening=0.3),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, weight_decay=0.05),
    dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.1),
    dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
]
ADAM_OPTIONS = [
    dict(),
    dict(lr=0.01),
    dict(lr=0.01, weight_decay=0.1),
    dict(lr=0.003, betas=(0.8, 0.95), eps=1e-6),
    dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.01),
]
DTYPES = [pytest.param(float64, id="float64"), pytest.param(float32, id="float32")]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", SGD_OPTIONS, ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_sgd_matches_torch_after_n_steps(kw, dtype, seed):
    model, twin = make_pair(dtype, seed)
    train_both(model, twin, SGD(model.parameters(), **kw), torch.optim.SGD(twin.parameters(), **kw), dtype)
    assert_params_close(model, twin, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kw", ADAM_OPTIONS, ids=str)
@pytest.mark.parametrize("seed", [0, 1])
def test_adam_matches_torch_after_n_steps(kw, dtype, seed):
    model, twin = make_pair(dtype, seed)
    train_both(model, twin, Adam(model.parameters(), **kw), torch.optim.Adam(twin.parameters(), **kw), dtype)
    assert_params_close(model, twin, dtype)


@pytest.mark.parametrize("make,tmake", [
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    (lambda ps: Adam(ps, lr=0.01, weight_decay=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01))], ids=["sgd", "adam"])
def test_optimizers_on_each_device(make, tmake, device):
    model, twin = make_pair(float32, 0, device=device)
    train_both(model, twin, make(model.parameters()), tmake(twin.parameters()), float32, device=device)
    assert_params_close(model, twin, float32)


def test_optimizer_state_matches_torch():
    model, twin = make_pair(float64, 0)
    opt, topt = Adam(model.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(), lr=0.01)
    sgd_model, sgd_twin = make_pair(float64, 1)
    sgd, tsgd = SGD(sgd_model.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(sgd_twin.parameters(), lr=0.1, momentum=0.9)
    train_both(model, twin, opt, topt, float64, steps=3)
    train_both(sgd_model, sgd_twin, sgd, tsgd, float64, steps=3)
    for p, tp in zip(model.parameters(), twin.parameters()):
        s, ts = opt.state[p], topt.state[tp]
        assert s["step"] == ts["step"].item() == 3
        for k in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_allclose(s[k].numpy(), ts[k].numpy(), rtol=1e-10, atol=1e-14)
    for p, tp in zip(sgd_model.parameters(), sgd_twin.parameters()):
        np.testing.assert_allclose(sgd.state[p]["momentum_buffer"].numpy(), tsgd.state[tp]["momentum_buffer"].numpy(), rtol=1e-10)


def test_param_groups_with_their_own_options_match_torch():
    model, twin = make_pair(float64, 0)
    groups = lambda m: [{"params": m[0].parameters(), "lr": 0.01, "momentum": 0.5}, {"params": list(m[2].parameters()) + list(m[4].parameters())}]
    opt, topt = SGD(groups(model), lr=0.1, momentum=0.9), torch.optim.SGD(groups(twin), lr=0.1, momentum=0.9)
    assert [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups] == \
           [{k: g[k] for k in ("lr", "momentum", "dampening", "weight_decay", "nesterov")} for g in topt.param_groups]
    train_both(model, twin, opt, topt, float64)
    assert_params_close(model, twin, float64)


def test_step_skips_parameters_without_grad_like_torch():
    model, twin = make_pair(float64, 0)
    frozen, tfrozen = model[0].weight, twin[0].weight
    frozen.requires_grad = False; tfrozen.requires_grad = False
    before = frozen.detach().numpy().copy()
    opt, topt = Adam(model.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(), lr=0.01)
    train_both(model, twin, opt, topt, float64, steps=3)
    assert np.array_equal(frozen.detach().numpy(), before) and frozen not in opt.state
    assert_params_close(model, twin, float64)


@pytest.mark.parametrize("cls,tcls", [(SGD, torch.optim.SGD), (Adam, torch.optim.Adam)])
def test_zero_grad_none_vs_zeros(cls, tcls):
    model, _ = make_pair(float32, 0)
    opt = cls(model.parameters(), lr=0.1)
    model(randn(2, 4)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.numpy().any() for p, g in zip(model.parameters(), grads))
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    opt.step()                                                # no gradients: nothing happens, no error


def test_updates_record_no_graph():
    model, _ = make_pair(float32, 0)
    for opt in (SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1), Adam(model.parameters(), weight_decay=0.1)):
        for _ in range(2):
            opt.zero_grad(); model(randn(2, 4)).sum().backward(); opt.step()
        assert all(p.is_leaf and p.grad_fn is None and p.requires_grad for p in model.parameters())
        assert all(not t.requires_grad for s in opt.state.values() for t in s.values() if hasattr(t, "requires_grad"))


def test_in_place_update_of_a_leaf_outside_no_grad_raises_like_torch():
    tp = torch.nn.Parameter(torch.ones(3))
    with pytest.raises(RuntimeError) as theirs:
        tp.sub_(0.1)
    p = nn.Parameter(tensor([1.0, 1.0, 1.0]))
    with pytest.raises(RuntimeError) as ours:
        p.sub_(0.1)
    assert str(ours.value) == str(theirs.value)
    with no_grad(): p.sub_(0.5)                               # what the optimizers do
    assert p.tolist() == [0.5, 0.5, 0.5] and p.is_leaf and p.requires_grad


@pytest.mark.parametrize("cls,tcls", [(SGD, torch.optim.SGD), (Adam, torch.optim.Adam)])
def test_empty_parameter_list_raises_like_torch(cls, tcls):
    with pytest.raises(ValueError) as theirs: tcls([], lr=0.1)
    with pytest.raises(ValueError) as ours: cls([], lr=0.1)
    assert str(ours.value) == str(theirs.value) == "optimizer got an empty parameter list"
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(nn.ReLU().parameters(), lr=0.1)                   # a model without parameters


@pytest.mark.parametrize("cls,tcls,kw", [
    (SGD, torch.optim.SGD, dict(lr=-0.1)), (SGD, torch.optim.SGD, dict(lr=0.1, momentum=-1)),
    (SGD, torch.optim.SGD, dict(lr=0.1, weight_decay=-1)), (SGD, torch.optim.SGD, dict(lr=0.1, nesterov=True)),
    (SGD, torch.optim.SGD, dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    (Adam, torch.optim.Adam, dict(lr=-1.0)), (Adam, torch.optim.Adam, dict(eps=-1.0)),
    (Adam, torch.optim.Adam, dict(betas=(1.0, 0.9))), (Adam, torch.optim.Adam, dict(betas=(0.9, -0.1))),
    (Adam, torch.optim.Adam, dict(weight_decay=-0.1))])
def test_invalid_hyperparameters_raise_like_torch(cls, tcls, kw):
    with pytest.raises(ValueError) as theirs: tcls([torch.nn.Parameter(torch.ones(1))], **kw)
    with pytest.raises(ValueError) as ours: cls([nn.Parameter(tensor([1.0]))], **kw)
    assert str(ours.value) == str(theirs.value)


def test_bad_params_argument():
    p = nn.Parameter(tensor([1.0]))
    with pytest.raises(TypeError): SGD(p, lr=0.1)                          # a tensor, not an iterable of tensors
    with pytest.raises(TypeError): SGD([1.0], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"): SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"): SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_optimizer_base_class_and_repr():
    opt = Adam([nn.Parameter(tensor([1.0]))], lr=0.01)
    assert isinstance(opt, Optimizer) and opt.defaults["lr"] == 0.01 and len(opt.param_groups) == 1
    r = repr(opt)
    assert r.startswith("Adam (\nParameter Group 0\n") and "    lr: 0.01\n" in r and r.endswith(")")
    with pytest.raises(NotImplementedError): Optimizer([nn.Parameter(tensor([1.0]))], {}).step()


def test_sgd_one_step_by_hand():
    "The update rule itself, on numbers small enough to check by hand"
    p = nn.Parameter(tensor([1.0, -2.0], dtype=float64))
    opt = SGD([p], lr=0.5, momentum=0.5, weight_decay=0.1)
    for _ in range(2):
        opt.zero_grad(); (p * p).sum().backward(); opt.step()
    # step 1: g = 2p + 0.1p = 2.1p, b = g, p <- p - 0.5*2.1p = -0.05p
    # step 2: g = 2.1p', b = 0.5*b + g, p'' = p' - 0.5*b
    p0 = np.array([1.0, -2.0]); p1 = p0 - 0.5 * 2.1 * p0; b = 0.5 * 2.1 * p0 + 2.1 * p1; p2 = p1 - 0.5 * b
    np.testing.assert_allclose(p.detach().numpy(), p2, rtol=1e-14)
