"""course_lib.optim against torch.optim: N steps on random MLPs and on random parameters, every optimizer and option,
parameter groups, state and state_dict, closures, errors in torch's words."""
import copy
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st, HealthCheck

import course_lib as cl
import course_lib.nn as nn
from course_lib import optim
from course_lib.optim import Optimizer, SGD, Adam, AdamW, RMSprop, Adagrad
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


def train_both(model, twin, opt, topt, dtype, steps=STEPS, device="cpu", schedulers=()):
    for _ in range(steps):
        x = randn(8, model[0].in_features, dtype=dtype, device=device)
        y = randn(8, model[-1].out_features, dtype=dtype, device=device)
        tx, ty = to_torch(x).to(device), to_torch(y).to(device)
        opt.zero_grad(); nn.MSELoss()(model(x), y).backward(); opt.step()
        topt.zero_grad(); torch.nn.MSELoss()(twin(tx), ty).backward(); topt.step()
        for s, ts in schedulers: s.step(); ts.step()


def assert_params_close(model, twin, dtype):
    for (n, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert p.dtype == dtype and p.requires_grad == tp.requires_grad and p.is_leaf and p.grad_fn is None
        a, b = p.detach().cpu().numpy(), tp.detach().cpu().numpy()
        if dtype == float64: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=n)
        else: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6, err_msg=n)


# every optimizer with several option combinations: (name, options), run on both libraries under torch's name
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.05)),
    ("SGD", dict(lr=0.05, momentum=0.5, dampening=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)),
    ("SGD", dict(lr=0.01, momentum=0.9, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("Adam", dict(lr=0.003, betas=(0.8, 0.95), eps=1e-6)),
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), eps=1e-4, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.3, betas=(0.8, 0.99))),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, maximize=True, eps=1e-6)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.001, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.001, momentum=0.9)),
    ("RMSprop", dict(lr=0.001, centered=True)),
    ("RMSprop", dict(lr=0.001, alpha=0.95, momentum=0.5, centered=True, weight_decay=0.05, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5, eps=1e-6)),
    ("Adagrad", dict(lr=0.05, maximize=True)),
]
DTYPES = [pytest.param(float64, id="float64"), pytest.param(float32, id="float32")]
case_id = lambda c: f"{c[0]}{c[1]}"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=case_id)
@pytest.mark.parametrize("seed", [0, 1])
def test_optimizer_matches_torch_after_n_steps(case, dtype, seed):
    name, kw = case
    model, twin = make_pair(dtype, seed)
    opt, topt = getattr(optim, name)(model.parameters(), **kw), getattr(torch.optim, name)(twin.parameters(), **kw)
    train_both(model, twin, opt, topt, dtype)
    assert_params_close(model, twin, dtype)


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_state_and_state_dict_match_torch(case):
    "After some steps: the same state entries, values and step counts, and state_dict() with torch's layout and options."
    name, kw = case
    model, twin = make_pair(float64, 3)
    opt, topt = getattr(optim, name)(model.parameters(), **kw), getattr(torch.optim, name)(twin.parameters(), **kw)
    train_both(model, twin, opt, topt, float64, steps=4)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sd.keys() == tsd.keys() == {"state", "param_groups"}
    assert sd["param_groups"] == tsd["param_groups"]              # every option, and params as the ints 0..n-1
    assert list(sd["state"]) == list(tsd["state"]) and all(isinstance(k, int) for k in sd["state"])
    for k, ts in tsd["state"].items():
        s = sd["state"][k]
        assert list(s) == list(ts), (k, list(s), list(ts))
        for key, tv in ts.items():
            v = s[key]
            assert isinstance(v, cl.Tensor) and v.shape == tuple(tv.shape) and str(v.dtype) == str(tv.dtype).replace("torch", "course_lib")
            np.testing.assert_allclose(v.numpy(), tv.numpy(), rtol=1e-10, atol=1e-14, err_msg=f"{k}/{key}")
    assert repr(opt) == repr(topt)


def _batches(n, dtype=float64, seed=11):
    manual_seed(seed)
    return [(randn(8, 4, dtype=dtype), randn(8, 3, dtype=dtype)) for _ in range(n)]


def _train(model, opt, batches):
    for x, y in batches:
        opt.zero_grad(); nn.MSELoss()(model(x), y).backward(); opt.step()


@pytest.mark.parametrize("case", CASES[::3], ids=case_id)
def test_state_dict_round_trip_resumes_exactly(case):
    "Save after 5 steps, load into a fresh model and optimizer, continue: the same parameters as without the break."
    name, kw = case
    model, _ = make_pair(float64, 4)
    opt, batches = getattr(optim, name)(model.parameters(), **kw), _batches(10)
    _train(model, opt, batches[:5])
    ckpt = copy.deepcopy({"model": model.state_dict(), "opt": opt.state_dict()})
    _train(model, opt, batches[5:])
    fresh, _ = make_pair(float64, 99)
    fresh.load_state_dict(ckpt["model"])
    fopt = getattr(optim, name)(fresh.parameters(), lr=123.0)             # the options come from the checkpoint
    fopt.load_state_dict(ckpt["opt"])
    assert fopt.param_groups[0]["lr"] == kw.get("lr", opt.defaults["lr"]) and repr(fopt) == repr(opt)
    assert all(fp is p for fp, p in zip(fopt.param_groups[0]["params"], fresh.parameters()))
    _train(fresh, fopt, batches[5:])
    for p, q in zip(model.parameters(), fresh.parameters()):
        assert np.array_equal(p.detach().numpy(), q.detach().numpy())


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_loading_a_torch_written_state_dict_continues_in_lockstep(name):
    "torch's state_dict, its tensors converted, loads into ours; from there the two runs agree step for step."
    kw = dict(SGD=dict(lr=0.1, momentum=0.9), RMSprop=dict(momentum=0.5, centered=True), Adam=dict(amsgrad=True)).get(name, {})
    model, twin = make_pair(float64, 5)
    topt = getattr(torch.optim, name)(twin.parameters(), **kw)
    for _ in range(3):                                    # torch trains alone for a while
        topt.zero_grad(); torch.nn.MSELoss()(twin(torch.randn(8, 4, dtype=torch.float64)), torch.randn(8, 3, dtype=torch.float64)).backward(); topt.step()
    model.load_state_dict({k: cl.tensor(v.numpy()) for k, v in twin.state_dict().items()})
    tsd = topt.state_dict()
    sd = {"state": {k: {n: cl.tensor(v.numpy()) for n, v in s.items()} for k, s in tsd["state"].items()},
          "param_groups": tsd["param_groups"]}
    opt = getattr(optim, name)(model.parameters())
    opt.load_state_dict(sd)
    assert opt.state_dict()["param_groups"] == tsd["param_groups"]
    train_both(model, twin, opt, topt, float64, steps=5)
    assert_params_close(model, twin, float64)


def test_load_state_dict_moves_state_to_the_parameters_dtype_but_keeps_step():
    model, twin = make_pair(float64, 0)
    opt, topt = Adam(model.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(), lr=0.01)
    train_both(model, twin, opt, topt, float64, steps=2)
    swap = lambda v: v.double() if v.dtype in (float32, torch.float32) else v.float()     # every tensor in the other dtype
    sd = copy.deepcopy(opt.state_dict())
    sd["state"][0] = {k: swap(v) for k, v in sd["state"][0].items()}
    opt.load_state_dict(sd)
    tsd = copy.deepcopy(topt.state_dict())
    tsd["state"][0] = {k: swap(v) for k, v in tsd["state"][0].items()}
    topt.load_state_dict(tsd)
    for k in ("exp_avg", "exp_avg_sq", "step"):
        assert str(opt.state[model[0].weight][k].dtype).split(".")[1] == str(topt.state[twin[0].weight][k].dtype).split(".")[1]


def test_load_state_dict_errors_like_torch():
    model, twin = make_pair(float64, 0)
    groups = lambda m: [{"params": m[0].parameters()}, {"params": list(m[2].parameters()) + list(m[4].parameters())}]
    opt, topt = SGD(groups(model), lr=0.1), torch.optim.SGD(groups(twin), lr=0.1)
    one, tone = SGD(model.parameters(), lr=0.1), torch.optim.SGD(twin.parameters(), lr=0.1)
    swapped = lambda sd: {"state": sd["state"], "param_groups": sd["param_groups"][::-1]}
    for bad, tbad in [(lambda: one.load_state_dict(opt.state_dict()), lambda: tone.load_state_dict(topt.state_dict())),
                      (lambda: opt.load_state_dict(swapped(opt.state_dict())), lambda: topt.load_state_dict(swapped(topt.state_dict())))]:
        with pytest.raises(ValueError) as theirs: tbad()
        with pytest.raises(ValueError) as ours: bad()
        assert str(ours.value) == str(theirs.value)


def test_state_dict_holds_the_state_itself_like_torch():
    "Not a copy: the same tensors (deepcopy to snapshot); parameters numbered across groups in order."
    model, _ = make_pair(float64, 0)
    opt = Adam([{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": 0.1}])
    model(randn(2, 4, dtype=float64)).sum().backward(); opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2, 3]]
    assert sd["state"][0]["exp_avg"] is opt.state[model[0].weight]["exp_avg"]


def test_param_groups_with_their_own_options_match_torch():
    model, twin = make_pair(float64, 0)
    groups = lambda m: [{"params": m[0].parameters(), "lr": 0.01, "momentum": 0.5}, {"params": list(m[2].parameters()) + list(m[4].parameters())}]
    opt, topt = SGD(groups(model), lr=0.1, momentum=0.9), torch.optim.SGD(groups(twin), lr=0.1, momentum=0.9)
    strip = lambda gs: [{k: v for k, v in g.items() if k != "params"} for g in gs]
    assert strip(opt.param_groups) == strip(topt.param_groups) and repr(opt) == repr(topt)
    train_both(model, twin, opt, topt, float64)
    assert_params_close(model, twin, float64)


@pytest.mark.parametrize("name,group_kw", [
    ("Adam", [dict(lr=0.02, betas=(0.8, 0.9)), dict(weight_decay=0.1, amsgrad=True), dict()]),
    ("AdamW", [dict(weight_decay=0.0), dict(lr=0.003), dict(weight_decay=0.5, amsgrad=True)]),
    ("RMSprop", [dict(momentum=0.9), dict(centered=True, alpha=0.9), dict(weight_decay=0.1)]),
    ("Adagrad", [dict(lr_decay=0.1), dict(lr=0.5), dict(weight_decay=0.2)]),
    ("SGD", [dict(nesterov=True, momentum=0.9), dict(momentum=0.0), dict(dampening=0.5, momentum=0.5, maximize=True)])])
def test_three_groups_with_different_options_match_torch(name, group_kw):
    model, twin = make_pair(float64, 2)
    groups = lambda m: [dict(params=m[i].parameters(), **kw) for i, kw in zip((0, 2, 4), group_kw)]
    opt, topt = getattr(optim, name)(groups(model), lr=0.05), getattr(torch.optim, name)(groups(twin), lr=0.05)
    assert repr(opt) == repr(topt)
    train_both(model, twin, opt, topt, float64)
    assert_params_close(model, twin, float64)


def test_add_param_group_later_matches_torch():
    "A frozen first layer joins the optimizer after 3 steps, with its own lr (Adagrad: its state is created then)."
    for name in ("Adam", "SGD", "Adagrad"):
        model, twin = make_pair(float64, 1)
        kw = dict(lr=0.05, **({"momentum": 0.9} if name == "SGD" else {}))
        for m in (model, twin): m[0].weight.requires_grad = m[0].bias.requires_grad = False
        rest = lambda m: list(m[2].parameters()) + list(m[4].parameters())
        opt, topt = getattr(optim, name)(rest(model), **kw), getattr(torch.optim, name)(rest(twin), **kw)
        train_both(model, twin, opt, topt, float64, steps=3)
        for m, o in ((model, opt), (twin, topt)):
            m[0].weight.requires_grad = m[0].bias.requires_grad = True
            o.add_param_group({"params": m[0].parameters(), "lr": 0.01})
        if name == "Adagrad":   # torch's Adagrad creates state only in its constructor: give torch's new group its state
            for p in twin[0].parameters(): topt.state[p] = {"step": torch.tensor(0.0), "sum": torch.zeros_like(p)}
        assert repr(opt) == repr(topt)
        train_both(model, twin, opt, topt, float64, steps=4)
        assert_params_close(model, twin, float64)


def test_named_parameters_give_param_names_like_torch():
    model, twin = make_pair(float64, 0)
    opt, topt = AdamW(model.named_parameters()), torch.optim.AdamW(twin.named_parameters())
    assert opt.param_groups[0]["param_names"] == topt.param_groups[0]["param_names"]
    assert opt.state_dict()["param_groups"] == topt.state_dict()["param_groups"]
    with pytest.raises(ValueError) as theirs: topt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})
    with pytest.raises(ValueError) as ours: opt.add_param_group({"params": [nn.Parameter(tensor([1.0]))]})
    assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError) as theirs: torch.optim.SGD([("w", twin[0].weight), twin[0].bias], lr=0.1)
    with pytest.raises(ValueError) as ours: SGD([("w", model[0].weight), model[0].bias], lr=0.1)
    assert str(ours.value) == str(theirs.value)


def test_duplicate_parameters_warn_like_torch():
    p, tp = nn.Parameter(tensor([1.0])), torch.nn.Parameter(torch.ones(1))
    with pytest.warns(UserWarning) as theirs: torch.optim.SGD([tp, tp], lr=0.1)
    with pytest.warns(UserWarning) as ours: SGD([p, p], lr=0.1)
    assert str(ours[0].message) == str(theirs[0].message)


def test_step_with_a_closure_returns_its_loss_like_torch():
    "The closure runs with recording on (the step itself does not record) and step returns what it returns."
    model, twin = make_pair(float64, 0)
    x = randn(8, 4, dtype=float64); y = randn(8, 3, dtype=float64)
    opt, topt = SGD(model.parameters(), lr=0.1, momentum=0.9), torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    def closure():
        opt.zero_grad(); loss = nn.MSELoss()(model(x), y); loss.backward(); return loss
    def tclosure():
        topt.zero_grad(); loss = torch.nn.MSELoss()(twin(to_torch(x)), to_torch(y)); loss.backward(); return loss
    for _ in range(5):
        loss, tloss = opt.step(closure), topt.step(tclosure)
        assert loss.requires_grad and abs(loss.item() - tloss.item()) < 1e-12
    assert_params_close(model, twin, float64)
    assert Adam(model.parameters()).step() is None


@pytest.mark.parametrize("make,tmake", [
    (lambda ps: SGD(ps, lr=0.1, momentum=0.9, nesterov=True), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True)),
    (lambda ps: Adam(ps, lr=0.01, weight_decay=0.01), lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.01)),
    (lambda ps: AdamW(ps, lr=0.01, amsgrad=True), lambda ps: torch.optim.AdamW(ps, lr=0.01, amsgrad=True)),
    (lambda ps: RMSprop(ps, momentum=0.5, centered=True), lambda ps: torch.optim.RMSprop(ps, momentum=0.5, centered=True)),
    (lambda ps: Adagrad(ps, lr=0.1), lambda ps: torch.optim.Adagrad(ps, lr=0.1))], ids=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
def test_optimizers_on_each_device(make, tmake, device):
    model, twin = make_pair(float32, 0, device=device)
    opt = make(model.parameters())
    train_both(model, twin, opt, tmake(twin.parameters()), float32, device=device)
    assert_params_close(model, twin, float32)
    for s in opt.state.values():
        for k, v in s.items():
            assert v.device.type == ("cpu" if k == "step" else device.split(":")[0]), k   # torch keeps `step` on the CPU


# ------------------------------------------------------------------ hypothesis: random shapes, options and gradients
OPTIONS = {
    "SGD": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.5), "momentum": st.sampled_from([0, 0.5, 0.9]),
                                  "weight_decay": st.sampled_from([0, 0.1]), "maximize": st.booleans()}),
    "Adam": st.fixed_dictionaries({"lr": st.floats(1e-4, 0.1), "betas": st.tuples(st.floats(0.0, 0.99), st.floats(0.5, 0.9999)),
                                   "eps": st.sampled_from([1e-8, 1e-4]), "weight_decay": st.sampled_from([0, 0.1]),
                                   "amsgrad": st.booleans(), "decoupled_weight_decay": st.booleans()}),
    "AdamW": st.fixed_dictionaries({"lr": st.floats(1e-4, 0.1), "weight_decay": st.floats(0, 1), "amsgrad": st.booleans()}),
    "RMSprop": st.fixed_dictionaries({"lr": st.floats(1e-4, 0.1), "alpha": st.floats(0.5, 0.999), "momentum": st.sampled_from([0, 0.9]),
                                      "centered": st.booleans(), "weight_decay": st.sampled_from([0, 0.1])}),
    "Adagrad": st.fixed_dictionaries({"lr": st.floats(1e-3, 0.5), "lr_decay": st.sampled_from([0, 0.1]),
                                      "initial_accumulator_value": st.sampled_from([0, 0.1]), "weight_decay": st.sampled_from([0, 0.1])}),
}
shapes = st.lists(st.integers(1, 4), min_size=0, max_size=3).map(tuple)


@pytest.mark.parametrize("name", sorted(OPTIONS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_shapes_options_and_gradients_match_torch(name, data):
    "Two parameters of random shapes, hand-set random gradients for 8 steps; one parameter skips a step (grad None)."
    kw = data.draw(OPTIONS[name], label="options")
    shape_a, shape_b = data.draw(shapes, label="shape a"), data.draw(shapes, label="shape b")
    rng = np.random.default_rng(data.draw(st.integers(0, 2**16), label="seed"))
    init = [rng.standard_normal(shape_a), rng.standard_normal(shape_b)]
    ps = [nn.Parameter(tensor(a, dtype=float64)) for a in init]
    tps = [torch.nn.Parameter(torch.tensor(a)) for a in init]
    opt, topt = getattr(optim, name)(ps, **kw), getattr(torch.optim, name)(tps, **kw)
    for step in range(8):
        for i, (p, tp) in enumerate(zip(ps, tps)):
            g = None if (i == 1 and step == 3) else rng.standard_normal(init[i].shape) * 10.0 ** rng.integers(-3, 2)
            p.grad = None if g is None else tensor(g, dtype=float64)
            tp.grad = None if g is None else torch.tensor(g)
        opt.step(); topt.step()
    for p, tp in zip(ps, tps):
        assert p.shape == tuple(tp.shape)
        np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------ the rest of the contract
def test_step_skips_parameters_without_grad_like_torch():
    model, twin = make_pair(float64, 0)
    frozen, tfrozen = model[0].weight, twin[0].weight
    frozen.requires_grad = False; tfrozen.requires_grad = False
    before = frozen.detach().numpy().copy()
    opt, topt = Adam(model.parameters(), lr=0.01), torch.optim.Adam(twin.parameters(), lr=0.01)
    train_both(model, twin, opt, topt, float64, steps=3)
    assert np.array_equal(frozen.detach().numpy(), before) and frozen not in opt.state
    assert_params_close(model, twin, float64)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_zero_grad_none_vs_zeros(name):
    model, _ = make_pair(float32, 0)
    opt = getattr(optim, name)(model.parameters(), lr=0.1)
    model(randn(2, 4)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.numpy().any() for p, g in zip(model.parameters(), grads))
    opt.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    before = [p.detach().numpy().copy() for p in model.parameters()]
    opt.step()                                                # no gradients: nothing happens, no error
    assert all(np.array_equal(b, p.detach().numpy()) for b, p in zip(before, model.parameters()))


def test_updates_record_no_graph():
    model, _ = make_pair(float32, 0)
    for opt in (SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1), Adam(model.parameters(), weight_decay=0.1),
                AdamW(model.parameters(), amsgrad=True), RMSprop(model.parameters(), momentum=0.9, centered=True),
                Adagrad(model.parameters(), weight_decay=0.1)):
        for _ in range(2):
            opt.zero_grad(); model(randn(2, 4)).sum().backward(); opt.step()
        assert all(p.is_leaf and p.grad_fn is None and p.requires_grad for p in model.parameters())
        assert all(not t.requires_grad for s in opt.state.values() for t in s.values())


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


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_empty_parameter_list_raises_like_torch(name):
    with pytest.raises(ValueError) as theirs: getattr(torch.optim, name)([], lr=0.1)
    with pytest.raises(ValueError) as ours: getattr(optim, name)([], lr=0.1)
    assert str(ours.value) == str(theirs.value) == "optimizer got an empty parameter list"
    with pytest.raises(ValueError, match="empty parameter list"):
        getattr(optim, name)(nn.ReLU().parameters(), lr=0.1)  # a model without parameters


INVALID = [
    ("SGD", dict(lr=-0.1)), ("SGD", dict(lr=0.1, momentum=-1)), ("SGD", dict(lr=0.1, weight_decay=-1)),
    ("SGD", dict(lr=0.1, nesterov=True)), ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
    ("SGD", dict(lr=-0.1, momentum=-1)),
    ("Adam", dict(lr=-1.0)), ("Adam", dict(eps=-1.0)), ("Adam", dict(betas=(1.0, 0.9))), ("Adam", dict(betas=(0.9, -0.1))),
    ("Adam", dict(weight_decay=-0.1)), ("Adam", dict(eps=-1.0, betas=(2.0, 0.9))),
    ("AdamW", dict(lr=-1.0)), ("AdamW", dict(weight_decay=-0.1)), ("AdamW", dict(betas=(0.9, 1.0))),
    ("RMSprop", dict(lr=-1.0)), ("RMSprop", dict(eps=-1.0)), ("RMSprop", dict(momentum=-0.5)),
    ("RMSprop", dict(weight_decay=-1.0)), ("RMSprop", dict(alpha=-0.1)),
    ("Adagrad", dict(lr=-1.0)), ("Adagrad", dict(lr_decay=-1.0)), ("Adagrad", dict(weight_decay=-1.0)),
    ("Adagrad", dict(initial_accumulator_value=-1.0)), ("Adagrad", dict(eps=-1.0)),
]


@pytest.mark.parametrize("name,kw", INVALID, ids=[f"{n}{k}" for n, k in INVALID])
def test_invalid_hyperparameters_raise_like_torch(name, kw):
    with pytest.raises(ValueError) as theirs: getattr(torch.optim, name)([torch.nn.Parameter(torch.ones(1))], **kw)
    with pytest.raises(ValueError) as ours: getattr(optim, name)([nn.Parameter(tensor([1.0]))], **kw)
    assert str(ours.value) == str(theirs.value)


def _error(f):
    try: f()
    except Exception as e: return type(e), str(e)
    raise AssertionError("no error")


def test_bad_params_arguments_raise_like_torch():
    p, tp = nn.Parameter(tensor([1.0])), torch.nn.Parameter(torch.ones(1))
    q, tq = nn.Parameter(tensor([1.0], dtype=float64)), torch.nn.Parameter(torch.ones(1, dtype=torch.float64))
    cases = [
        (lambda: SGD(p, lr=0.1), lambda: torch.optim.SGD(tp, lr=0.1)),                                 # a tensor, not an iterable
        (lambda: SGD(q, lr=0.1), lambda: torch.optim.SGD(tq, lr=0.1)),
        (lambda: SGD([1.0], lr=0.1), lambda: torch.optim.SGD([1.0], lr=0.1)),
        (lambda: SGD([p, (1, 2)], lr=0.1), lambda: torch.optim.SGD([tp, (1, 2)], lr=0.1)),
        (lambda: SGD([p * 2], lr=0.1), lambda: torch.optim.SGD([tp * 2], lr=0.1)),                     # not a leaf
        (lambda: SGD(3, lr=0.1), lambda: torch.optim.SGD(3, lr=0.1)),                                  # not iterable
        (lambda: SGD([{"params": [p]}, {"params": [p]}], lr=0.1), lambda: torch.optim.SGD([{"params": [tp]}, {"params": [tp]}], lr=0.1)),
        (lambda: SGD([{"params": {p}}], lr=0.1), lambda: torch.optim.SGD([{"params": {tp}}], lr=0.1)),  # a set has no order
        (lambda: SGD([p], lr=0.1).add_param_group([p]), lambda: torch.optim.SGD([tp], lr=0.1).add_param_group([tp])),
        (lambda: SGD([p], lr=0.1).add_param_group({"params": p}), lambda: torch.optim.SGD([tp], lr=0.1).add_param_group({"params": tp})),
    ]
    for ours, theirs in cases:
        assert _error(ours) == _error(theirs)


def test_a_retained_non_leaf_can_be_optimized_like_torch():
    x, tx = nn.Parameter(tensor([1.0])) * 2, torch.nn.Parameter(torch.ones(1)) * 2
    x.retain_grad(); tx.retain_grad()
    assert len(SGD([x], lr=0.1).param_groups[0]["params"]) == len(torch.optim.SGD([tx], lr=0.1).param_groups[0]["params"]) == 1


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_implementation_switches_are_accepted_and_differentiable_is_refused(name):
    switches = {"SGD": ("foreach", "fused"), "Adam": ("foreach", "fused", "capturable"), "AdamW": ("foreach", "fused", "capturable"),
                "RMSprop": ("foreach", "capturable"), "Adagrad": ("foreach", "fused")}[name]
    p = nn.Parameter(tensor([1.0]))
    opt = getattr(optim, name)([p], lr=0.1, **{s: False for s in switches})
    assert all(opt.defaults[s] is False for s in switches) and opt.defaults["differentiable"] is False
    with pytest.raises(NotImplementedError, match="differentiable=True"):
        getattr(optim, name)([p], lr=0.1, differentiable=True)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_signature_and_defaults_are_torchs(name):
    import inspect
    ours, theirs = inspect.signature(getattr(optim, name)), inspect.signature(getattr(torch.optim, name))
    assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
           [(p.name, p.kind, p.default) for p in theirs.parameters.values()]
    p, tp = nn.Parameter(tensor([1.0])), torch.nn.Parameter(torch.ones(1))
    assert getattr(optim, name)([p]).defaults == getattr(torch.optim, name)([tp]).defaults


def test_optim_names_are_torchs():
    for mod, tmod in [(optim, torch.optim), (optim.lr_scheduler, torch.optim.lr_scheduler)]:
        own = [n for n in dir(mod) if not n.startswith("_") and getattr(getattr(mod, n), "__module__", None) == mod.__name__]
        assert sorted(own) == sorted(mod.__all__) and len(own) >= 6
        extra = [n for n in own if not hasattr(tmod, n)]
        assert not extra, f"{mod.__name__} has names torch's lacks: {extra}"
    assert hasattr(optim, "lr_scheduler")
    assert cl.optim is optim and cl.optim.lr_scheduler.StepLR.__module__ == "course_lib.optim.lr_scheduler"


def test_optimizer_base_class_and_repr():
    opt = Adam([nn.Parameter(tensor([1.0]))], lr=0.01)
    topt = torch.optim.Adam([torch.nn.Parameter(torch.ones(1))], lr=0.01)
    assert isinstance(opt, Optimizer) and isinstance(AdamW([nn.Parameter(tensor([1.0]))]), Adam)
    assert opt.defaults["lr"] == 0.01 and len(opt.param_groups) == 1 and repr(opt) == repr(topt)
    with pytest.raises(NotImplementedError): Optimizer([nn.Parameter(tensor([1.0]))], {}).step()


def test_deepcopy_of_an_optimizer_is_independent():
    "What copy and pickle keep is torch's: defaults, state and param_groups (not a scheduler's wrapper of step)."
    p = nn.Parameter(tensor([1.0, 2.0]))
    opt = SGD([p], lr=0.1, momentum=0.9)
    optim.lr_scheduler.StepLR(opt, step_size=2)              # wraps opt.step
    p.grad = tensor([1.0, 1.0]); opt.step()
    clone = copy.deepcopy(opt)
    assert set(vars(clone)) == {"defaults", "state", "param_groups"}
    q = clone.param_groups[0]["params"][0]
    q.grad = tensor([1.0, 1.0])
    clone.step()
    assert q is not p and p.tolist() == pytest.approx([0.9, 1.9]) and q.tolist() == pytest.approx([0.71, 1.71])


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


def test_adamw_decays_every_weight_alike_and_adam_does_not():
    "The chapter's claim, against torch: with oscillating gradients of different sizes, AdamW's weights stay equal."
    def run(lib, cls, **kw):
        w = lib.nn.Parameter(lib.ones(3, dtype=lib.float64))
        opt = getattr(lib.optim, cls)([w], lr=0.01, **kw)
        for t in range(200):
            w.grad = lib.tensor([0.001, 0.1, 10.0], dtype=lib.float64) * (-1) ** t
            opt.step()
        return w.detach().numpy()
    ours, theirs = run(cl, "AdamW", weight_decay=0.1), run(torch, "AdamW", weight_decay=0.1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    assert np.ptp(ours) < 1e-5                        # equal but for eps next to the smallest gradients
    adam = run(cl, "Adam", weight_decay=0.1)
    np.testing.assert_allclose(adam, run(torch, "Adam", weight_decay=0.1), rtol=1e-10, atol=1e-14)
    assert adam[0] < 0.1 < 0.9 < adam[2]


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_each_step_bumps_the_parameters_version_like_torch(case):
    "The updates write the arrays directly, so they count their writes themselves: p._version goes up as torch's does."
    name, kw = case
    model, twin = make_pair(float64, 0)
    opt, topt = getattr(optim, name)(model.parameters(), **kw), getattr(torch.optim, name)(twin.parameters(), **kw)
    for step in range(3):
        for p, tp in zip(model.parameters(), twin.parameters()):
            g = np.random.default_rng(step).standard_normal(p.shape)
            p.grad, tp.grad = tensor(g), torch.tensor(g)
        before = [p._version for p in model.parameters()]
        tbefore = [p._version for p in twin.parameters()]
        opt.step(); topt.step()
        assert [p._version - v for p, v in zip(model.parameters(), before)] == \
               [p._version - v for p, v in zip(twin.parameters(), tbefore)]
        assert all(p._version > v for p, v in zip(model.parameters(), before))


def test_a_graph_that_saved_a_parameter_notices_the_step_like_torch():
    "Why the version counter matters: backward through a graph built before the update refuses, in torch's words."
    p, tp = nn.Parameter(tensor([1.0, 2.0])), torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    y, ty = (p * p).sum(), (tp * tp).sum()            # mul saves p for its backward
    p.grad, tp.grad = tensor([0.5, 0.5]), torch.tensor([0.5, 0.5])
    SGD([p], lr=0.1).step(); torch.optim.SGD([tp], lr=0.1).step()
    with pytest.raises(RuntimeError) as e: y.backward()
    with pytest.raises(RuntimeError) as te: ty.backward()
    hint = lambda m: m.split(" Hint:")[0]            # course_lib's hint says how to fix it; torch's points to anomaly mode
    assert hint(str(e.value)) == hint(str(te.value)) and "is at version 1; expected version 0" in str(e.value)
