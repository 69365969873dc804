"""course_lib.optim.lr_scheduler against torch.optim.lr_scheduler: learning rates (and OneCycleLR's momentum) over 50+
steps for every scheduler and many options, several parameter groups, chaining, state_dict, resuming, warnings and errors."""
import copy
import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import course_lib as cl
from course_lib import optim
from course_lib.optim import lr_scheduler

STEPS = 60


def params(lib, n=3):
    return [lib.nn.Parameter(lib.zeros(2)) for _ in range(n)]


def groups(lib, lrs):
    "One group per learning rate, each with its own parameter."
    return [{"params": [p], "lr": lr} for p, lr in zip(params(lib, len(lrs)), lrs)]


def run(lib, make_opt, make_sched, steps=STEPS, lrs=(0.1, 0.02, 1.0)):
    "Every group's (lr, momentum or beta1) before each epoch, then get_last_lr() after each step; lib is course_lib or torch."
    opt = make_opt(lib.optim, groups(lib, lrs))
    sched = make_sched(lib.optim.lr_scheduler, opt)
    seen, last = [], []
    for _ in range(steps):
        seen.append([(g["lr"], g["momentum"] if "momentum" in g else g["betas"][0]) for g in opt.param_groups])
        opt.step(); sched.step()
        last.append(sched.get_last_lr())
    return np.array(seen, dtype=float), np.array(last, dtype=float), sched


def assert_same(make_opt, make_sched, steps=STEPS, **kw):
    ours, ours_last, sched = run(cl, make_opt, make_sched, steps, **kw)
    theirs, theirs_last, tsched = run(torch, make_opt, make_sched, steps, **kw)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(ours_last, theirs_last, rtol=1e-13, atol=1e-300)
    assert sched.last_epoch == tsched.last_epoch == steps and sched.base_lrs == tsched.base_lrs
    return sched, tsched


sgd = lambda o, g: o.SGD(g, lr=0.1, momentum=0.9)
adam = lambda o, g: o.Adam(g, lr=0.01)
rmsprop = lambda o, g: o.RMSprop(g, momentum=0.5)

SCHEDULES = {
    "StepLR(3)": (sgd, lambda s, o: s.StepLR(o, 3)),
    "StepLR(10, 0.5)": (sgd, lambda s, o: s.StepLR(o, step_size=10, gamma=0.5)),
    "StepLR(1, 0.9)": (adam, lambda s, o: s.StepLR(o, 1, gamma=0.9)),
    "MultiStepLR": (sgd, lambda s, o: s.MultiStepLR(o, milestones=[5, 20, 21, 45])),
    "MultiStepLR(repeated, unsorted)": (adam, lambda s, o: s.MultiStepLR(o, milestones=[30, 10, 10, 50], gamma=0.3)),
    "ExponentialLR(0.9)": (sgd, lambda s, o: s.ExponentialLR(o, gamma=0.9)),
    "ExponentialLR(1.05)": (adam, lambda s, o: s.ExponentialLR(o, 1.05)),
    "CosineAnnealingLR(60)": (sgd, lambda s, o: s.CosineAnnealingLR(o, T_max=60)),
    "CosineAnnealingLR(7, 1e-3), past T_max": (sgd, lambda s, o: s.CosineAnnealingLR(o, 7, eta_min=1e-3)),
    "CosineAnnealingLR(1)": (adam, lambda s, o: s.CosineAnnealingLR(o, 1)),
    "LambdaLR(warm-up)": (adam, lambda s, o: s.LambdaLR(o, lambda e: min(1.0, (e + 1) / 10))),
    "LambdaLR(one per group)": (sgd, lambda s, o: s.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: 1 / (1 + e), lambda e: (e % 7) / 7])),
    "OneCycleLR on SGD": (sgd, lambda s, o: s.OneCycleLR(o, max_lr=1.0, total_steps=STEPS)),
    "OneCycleLR on Adam": (adam, lambda s, o: s.OneCycleLR(o, max_lr=[0.01, 0.1, 0.5], total_steps=STEPS)),
    "OneCycleLR on RMSprop": (rmsprop, lambda s, o: s.OneCycleLR(o, max_lr=0.05, epochs=6, steps_per_epoch=10)),
    "OneCycleLR linear, three phases": (sgd, lambda s, o: s.OneCycleLR(o, 0.5, total_steps=STEPS, anneal_strategy="linear",
                                                                       three_phase=True, pct_start=0.25)),
    "OneCycleLR options": (adam, lambda s, o: s.OneCycleLR(o, [0.1, 0.2, 0.3], total_steps=STEPS + 5, pct_start=0.5, div_factor=10.0,
                                                           final_div_factor=100.0, base_momentum=[0.8, 0.7, 0.6], max_momentum=0.99)),
    "OneCycleLR without momentum": (sgd, lambda s, o: s.OneCycleLR(o, 0.3, total_steps=STEPS, cycle_momentum=False)),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_schedule_matches_torch_over_60_steps(name):
    make_opt, make_sched = SCHEDULES[name]
    assert_same(make_opt, make_sched)


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_state_dict_matches_torch_and_resumes(name):
    "The same state_dict as torch's after 20 steps; loaded into a new scheduler, the rest of the schedule is unchanged."
    make_opt, make_sched = SCHEDULES[name]
    opt, topt = make_opt(cl.optim, groups(cl, (0.1, 0.02, 1.0))), make_opt(torch.optim, groups(torch, (0.1, 0.02, 1.0)))
    sched, tsched = make_sched(lr_scheduler, opt), make_sched(torch.optim.lr_scheduler, topt)
    for _ in range(20): opt.step(); sched.step(); topt.step(); tsched.step()
    sd, tsd = sched.state_dict(), tsched.state_dict()
    assert sd.keys() == tsd.keys()
    for k in tsd:
        assert (sd[k] == tsd[k]) if not isinstance(tsd[k], float) else math.isclose(sd[k], tsd[k], rel_tol=1e-13), k
    # resume: a new optimizer from the optimizer's checkpoint, then a new scheduler from its own
    opt_ckpt, sched_ckpt = copy.deepcopy(opt.state_dict()), copy.deepcopy(sd)
    opt2 = make_opt(cl.optim, groups(cl, (0.1, 0.02, 1.0)))
    opt2.load_state_dict(opt_ckpt)
    sched2 = make_sched(lr_scheduler, opt2)          # as torch's docs say: create the scheduler, then load both states
    opt2.load_state_dict(opt_ckpt); sched2.load_state_dict(sched_ckpt)
    for _ in range(STEPS - 21):
        opt.step(); sched.step(); opt2.step(); sched2.step()
        assert sched2.get_last_lr() == sched.get_last_lr()
        assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]


def test_two_schedulers_on_one_optimizer_compose_like_torch():
    both = lambda s, o: _Chain([s.StepLR(o, 7, gamma=0.5), s.ExponentialLR(o, gamma=0.97), s.MultiStepLR(o, [11, 33])])
    assert_same(sgd, both)


class _Chain:
    "Several schedulers stepped together (what torch's ChainedScheduler does), reporting the last one's lr."
    def __init__(self, scheds): self.scheds, self.last_epoch, self.base_lrs = scheds, 0, scheds[0].base_lrs
    def step(self):
        for s in self.scheds: s.step()
        self.last_epoch += 1
    def get_last_lr(self): return self.scheds[-1].get_last_lr()


def test_a_learning_rate_changed_by_hand_stays_changed_like_torch():
    "The chainable schedules multiply the current lr, so a manual change carries through."
    def make(s, o):
        sched = s.ExponentialLR(o, gamma=0.9)
        for g in o.param_groups: g["lr"] *= 0.5
        return sched
    assert_same(sgd, make)


@pytest.mark.parametrize("cls,kw", [("StepLR", dict(step_size=4, gamma=0.5)), ("MultiStepLR", dict(milestones=[3, 8, 8], gamma=0.5)),
                                    ("ExponentialLR", dict(gamma=0.8)), ("CosineAnnealingLR", dict(T_max=9, eta_min=0.01)),
                                    ("LambdaLR", dict(lr_lambda=lambda e: 1 / (e + 1)))])
def test_step_with_an_epoch_is_deprecated_and_uses_the_closed_form_like_torch(cls, kw):
    def jumps(lib):
        opt = lib.optim.SGD(groups(lib, (0.1, 0.3)), lr=0.1)
        sched = getattr(lib.optim.lr_scheduler, cls)(opt, **kw)
        out = []
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            for epoch in (3, 7, 2, 15, 15, 30):
                opt.step(); sched.step(epoch); out.append(sched.get_last_lr())
        return out, [str(x.message) for x in w]
    (ours, ours_w), (theirs, theirs_w) = jumps(cl), jumps(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert ours_w == theirs_w and "deprecated" in ours_w[0]


@settings(max_examples=40, deadline=None)
@given(kind=st.sampled_from(["StepLR", "ExponentialLR", "CosineAnnealingLR", "MultiStepLR", "OneCycleLR"]),
       step_size=st.integers(1, 20), gamma=st.floats(0.05, 1.2), eta_min=st.floats(0, 0.05),
       milestones=st.lists(st.integers(0, 70), max_size=6), pct_start=st.floats(0.05, 0.95),
       three_phase=st.booleans(), linear=st.booleans(), steps=st.integers(50, 80), lr=st.floats(1e-3, 1.0))
def test_random_schedules_match_torch(kind, step_size, gamma, eta_min, milestones, pct_start, three_phase, linear, steps, lr):
    make = {"StepLR": lambda s, o: s.StepLR(o, step_size, gamma),
            "ExponentialLR": lambda s, o: s.ExponentialLR(o, gamma),
            "CosineAnnealingLR": lambda s, o: s.CosineAnnealingLR(o, step_size, eta_min),
            "MultiStepLR": lambda s, o: s.MultiStepLR(o, milestones, gamma),
            "OneCycleLR": lambda s, o: s.OneCycleLR(o, lr, total_steps=steps, pct_start=pct_start, three_phase=three_phase,
                                                    anneal_strategy="linear" if linear else "cos")}[kind]
    assert_same(adam if linear else sgd, make, steps=steps, lrs=(lr, lr / 3))


def test_training_with_a_scheduler_matches_torch():
    "An MLP trained 3 epochs x 10 batches with AdamW and a per-batch OneCycleLR, and SGD with a per-epoch StepLR."
    for make_opt, make_sched, per_batch in [(lambda o, ps: o.AdamW(ps, lr=1e-3), lambda s, o: s.OneCycleLR(o, 0.05, total_steps=30), True),
                                            (lambda o, ps: o.SGD(ps, lr=0.1, momentum=0.9), lambda s, o: s.StepLR(o, 1, 0.5), False)]:
        cl.manual_seed(0)
        model = cl.nn.Sequential(cl.nn.Linear(4, 8, dtype=cl.float64), cl.nn.Tanh(), cl.nn.Linear(8, 2, dtype=cl.float64))
        twin = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)).double()
        twin.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in model.state_dict().items()})
        opt, topt = make_opt(cl.optim, model.parameters()), make_opt(torch.optim, twin.parameters())
        sched, tsched = make_sched(lr_scheduler, opt), make_sched(torch.optim.lr_scheduler, topt)
        for epoch in range(3):
            for _ in range(10):
                x, y = cl.randn(16, 4, dtype=cl.float64), cl.randn(16, 2, dtype=cl.float64)
                opt.zero_grad(); cl.nn.MSELoss()(model(x), y).backward(); opt.step()
                topt.zero_grad(); torch.nn.MSELoss()(twin(torch.from_numpy(x.numpy())), torch.from_numpy(y.numpy())).backward(); topt.step()
                if per_batch: sched.step(); tsched.step()
            if not per_batch: sched.step(); tsched.step()
        for p, tp in zip(model.parameters(), twin.parameters()):
            np.testing.assert_allclose(p.detach().numpy(), tp.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-13)


# ------------------------------------------------------------------ the base class's contract
def test_construction_sets_initial_lr_and_epoch_zero_like_torch():
    for lib in (cl, torch):
        opt = lib.optim.SGD(groups(lib, (0.1, 0.5)), lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, 2)
        assert [g["initial_lr"] for g in opt.param_groups] == sched.base_lrs == [0.1, 0.5]
        assert sched.last_epoch == 0 and sched._step_count == 1 and sched.get_last_lr() == [0.1, 0.5]
        assert isinstance(sched, lib.optim.lr_scheduler.LRScheduler)


def _warnings(f):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        f()
    return [str(x.message) for x in w]


def test_stepping_the_scheduler_first_warns_like_torch():
    def first(lib, optimizer_first):
        opt = lib.optim.SGD(params(lib, 1), lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, 1)
        def go():
            if optimizer_first: opt.step()
            sched.step(); opt.step(); sched.step()
        return _warnings(go)
    assert first(cl, False) == first(torch, False) and len(first(cl, False)) == 1
    assert "before `optimizer.step()`" in first(cl, False)[0]
    assert first(cl, True) == first(torch, True) == []


def test_calling_get_lr_directly_warns_like_torch():
    ours = lr_scheduler.StepLR(optim.SGD(params(cl, 1), lr=0.1), 1)
    theirs = torch.optim.lr_scheduler.StepLR(torch.optim.SGD(params(torch, 1), lr=0.1), 1)
    assert _warnings(ours.get_lr) == _warnings(theirs.get_lr) and len(_warnings(ours.get_lr)) == 1


def test_one_wrapper_per_optimizer_and_it_does_not_keep_the_optimizer_alive():
    import gc, weakref
    opt = optim.SGD(params(cl, 1), lr=0.1)
    lr_scheduler.StepLR(opt, 1); lr_scheduler.ExponentialLR(opt, 0.9)
    wrapped = opt.step
    lr_scheduler.StepLR(opt, 1)
    assert opt.step is wrapped and wrapped._wrapped_by_lr_sched
    ref = weakref.ref(opt)
    del opt, wrapped; gc.collect()
    assert ref() is None


def test_resuming_with_last_epoch_needs_initial_lr_like_torch():
    def err(lib):
        with pytest.raises(KeyError) as e: lib.optim.lr_scheduler.StepLR(lib.optim.SGD(params(lib, 1), lr=0.1), 2, last_epoch=5)
        return str(e.value)
    assert err(cl) == err(torch)
    def resumed(lib):
        opt = lib.optim.SGD(groups(lib, (0.1, 0.2)), lr=0.1)
        for g in opt.param_groups: g["initial_lr"] = g["lr"] * 2
        sched = lib.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10, last_epoch=4)   # first step: the closed form at epoch 5
        out = []
        for _ in range(8): opt.step(); sched.step(); out.append(sched.get_last_lr())
        return out, sched.last_epoch
    (ours, e), (theirs, te) = resumed(cl), resumed(torch)
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)
    assert e == te


def test_lambda_lr_state_dict_keeps_a_callable_objects_attributes_like_torch():
    class Warmup:
        def __init__(self, n): self.n = n
        def __call__(self, e): return min(1.0, (e + 1) / self.n)
    def sd(lib):
        opt = lib.optim.SGD(groups(lib, (0.1, 0.2)), lr=0.1)
        return lib.optim.lr_scheduler.LambdaLR(opt, [Warmup(5), lambda e: 1.0]).state_dict()
    ours, theirs = sd(cl), sd(torch)
    assert ours == theirs and ours["lr_lambdas"] == [{"n": 5}, None]
    opt = optim.SGD(groups(cl, (0.1, 0.2)), lr=0.1)
    target = lr_scheduler.LambdaLR(opt, [Warmup(10), lambda e: 1.0])
    target.load_state_dict(ours)
    assert target.lr_lambdas[0].n == 5 and ours["lr_lambdas"] == [{"n": 5}, None]


ERRORS = [
    lambda s, o: s.StepLR(object(), 2),
    lambda s, o: s.LambdaLR(o, [lambda e: 1.0]),
    lambda s, o: s.OneCycleLR(object(), 0.1, total_steps=10),
    lambda s, o: s.OneCycleLR(o, 0.1),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=0),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=2.5),
    lambda s, o: s.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3),
    lambda s, o: s.OneCycleLR(o, 0.1, epochs=2, steps_per_epoch=-1),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=10, pct_start=1.5),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=10, pct_start=1),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=10, anneal_strategy="exp"),
    lambda s, o: s.OneCycleLR(o, [0.1, 0.2, 0.3], total_steps=10),
    lambda s, o: s.OneCycleLR(o, 0.1, total_steps=10, max_momentum=[0.9, 0.8, 0.7]),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_errors_like_torch(i):
    def err(lib):
        opt = lib.optim.SGD(groups(lib, (0.1, 0.2)), lr=0.1, momentum=0.9)
        try: ERRORS[i](lib.optim.lr_scheduler, opt)
        except Exception as e: return type(e).__name__, str(e)
        raise AssertionError("no error")
    assert err(cl) == err(torch)


def test_one_cycle_errors_without_momentum_and_past_its_end_like_torch():
    def no_momentum(lib):
        with pytest.raises(ValueError) as e: lib.optim.lr_scheduler.OneCycleLR(lib.optim.Adagrad(params(lib, 1)), 0.1, total_steps=5)
        return str(e.value)
    assert no_momentum(cl) == no_momentum(torch)
    lib_scheds = [lib.optim.lr_scheduler.OneCycleLR(lib.optim.Adagrad(params(lib, 1)), 0.1, total_steps=3, cycle_momentum=False) for lib in (cl, torch)]
    msgs = []
    for s in lib_scheds:
        for _ in range(3): s.optimizer.step(); s.step()
        with pytest.raises(ValueError) as e: s.step()
        msgs.append(str(e.value))
    assert msgs[0] == msgs[1]


def test_signatures_are_torchs():
    import inspect
    for name in lr_scheduler.__all__:
        ours, theirs = inspect.signature(getattr(lr_scheduler, name)), inspect.signature(getattr(torch.optim.lr_scheduler, name))
        assert [(p.name, p.kind, p.default) for p in ours.parameters.values()] == \
               [(p.name, p.kind, p.default) for p in theirs.parameters.values()], name
