"""A differential test of in-place ops, views and ordinary ops: seeded random programs run on torch and on course_lib.

Each program starts from leaves that require grad and buffers that don't, applies random ops (out of place, in place,
through views, under `no_grad` or not), then backpropagates the sum of everything that requires grad. After every op we
compare "raises or not"; at the end values, dtypes, shapes, `requires_grad`, `grad_fn` presence, `_version` and every
leaf's gradient. A disagreement where both libraries succeed is a *silent wrong result*: the test allows none. Every
deliberate difference is listed in README's "Deliberate differences from torch".
"""
import random
import numpy as np
import pytest
import torch
import course_lib as cl

SHAPE = (3, 4)
PROGRAMS, STEPS = 400, 10


def _views(r):
    "A view of a tensor of shape SHAPE, as (name, function) that works on both libraries."
    return r.choice([
        ("row", lambda x: x[1]), ("col", lambda x: x[:, 2]), ("block", lambda x: x[1:, ::2]), ("elem", lambda x: x[0, 1]),
        ("t", lambda x: x.t()), ("flat", lambda x: x.view(-1)), ("narrow", lambda x: x.narrow(1, 1, 2)),
        ("unsq", lambda x: x.unsqueeze(0)), ("T2", lambda x: x.T),
    ])


def _ops(r, lib):
    "One random step: (description, function of the pool that returns a new tensor or None). `lib` gives no_grad."
    k, v = r.randrange(10 ** 6), r.uniform(-2, 2)
    nograd = r.random() < 0.25
    def pick(pool, same_as=None):
        rr = random.Random(k + len(pool))
        cands = [t for t in pool if same_as is None or tuple(t.shape) == tuple(same_as.shape)]
        return rr.choice(cands) if cands else None
    vname, vfn = _views(random.Random(k))
    unary = random.Random(k).choice(["sin", "exp", "relu", "tanh", "sigmoid"])
    choices = [
        ("binary", lambda pool: (lambda a: (lambda b: None if b is None else a * b + b)(pick(pool, a)))(pick(pool))),
        ("scalar", lambda pool: pick(pool) * v - 1),
        ("unary " + unary, lambda pool: getattr(pick(pool), unary)()),
        ("sum", lambda pool: pick(pool).sum(0, keepdim=True).expand(*pick(pool).shape) if pick(pool).ndim == 2 else None),
        ("view " + vname, lambda pool: vfn(pick(pool)) if tuple(pick(pool).shape) == SHAPE else None),
        ("add_", lambda pool: _inplace(lib, nograd, lambda a, b: a.add_(b, alpha=v), pick(pool), pool, pick)),
        ("mul_", lambda pool: _inplace(lib, nograd, lambda a, b: a.mul_(b), pick(pool), pool, pick)),
        ("iadd", lambda pool: _inplace(lib, nograd, _iadd, pick(pool), pool, pick)),
        ("copy_", lambda pool: _inplace(lib, nograd, lambda a, b: a.copy_(b * 2), pick(pool), pool, pick)),
        ("fill_", lambda pool: _inplace(lib, nograd, lambda a, b: a.fill_(v), pick(pool), pool, pick)),
        ("zero_", lambda pool: _inplace(lib, nograd, lambda a, b: a.zero_(), pick(pool), pool, pick)),
        ("clamp_", lambda pool: _inplace(lib, nograd, lambda a, b: a.clamp_(-0.5, 0.5), pick(pool), pool, pick)),
        ("relu_", lambda pool: _inplace(lib, nograd, lambda a, b: a.relu_(), pick(pool), pool, pick)),
        ("setitem", lambda pool: _inplace(lib, nograd, _setitem, pick(pool), pool, pick)),
        ("view then mul_", lambda pool: _inplace(lib, nograd, lambda a, b: vfn(a).mul_(v) if tuple(a.shape) == SHAPE else None,
                                                 pick(pool), pool, pick)),
        ("detach add_", lambda pool: _inplace(lib, nograd, lambda a, b: a.detach().add_(1), pick(pool), pool, pick)),
    ]
    return r.choice(choices)


def _iadd(a, b):
    a += b
    return a

def _setitem(a, b):
    if a.ndim == 0: a.fill_(b.sum()); return a
    a[0] = b[0] * 3 if b.ndim and b.shape[1:] == a.shape[1:] else 1.5
    return a

def _inplace(lib, nograd, f, a, pool, pick):
    b = pick(pool, a)
    if b is None: return None
    if nograd:
        with lib.no_grad(): return f(a, b)
    return f(a, b)


def _leaves(lib, seed):
    g = np.random.default_rng(seed)
    made = [g.standard_normal(SHAPE) for _ in range(4)]
    return [lib.tensor(a, dtype=lib.float64, requires_grad=i < 2) for i, a in enumerate(made)]


def _state(t):
    return (tuple(t.shape), str(t.dtype).split(".")[-1], t.requires_grad, t.grad_fn is not None)


def _run(lib, seed):
    "Run program `seed` on `lib`; the events (raised or not, per step) and the final pool and leaves."
    r = random.Random(seed)
    leaves = _leaves(lib, seed)
    pool, events, messages = list(leaves), [], []
    for _ in range(STEPS):
        name, fn = _ops(r, lib)
        try:
            out = fn(pool)
            events.append((name, "ok"))
            if out is not None and all(out is not p for p in pool): pool.append(out)
        except (RuntimeError, IndexError, TypeError, ValueError) as e:
            events.append((name, "raised")); messages.append(str(e))
    loss = None
    try:
        parts = [p.sum() for p in pool if p.requires_grad]
        if parts:
            loss = parts[0]
            for p in parts[1:]: loss = loss + p
            loss.backward()
        events.append(("backward", "ok"))
    except RuntimeError as e:
        events.append(("backward", "raised")); messages.append(str(e))
    return events, pool, leaves, messages


def _compare(seed):
    "None if the libraries agree on program `seed`, else (kind, detail): kind 'silent' (both ran, results differ) or 'raises'."
    ce, cpool, cleaves, cm = _run(cl, seed)
    te, tpool, tleaves, tm = _run(torch, seed)
    if ce != te: return ("raises", [(a, b) for a, b in zip(ce, te) if a != b][:1], cm + tm)
    if ce[-1][1] == "raised": return None
    for c, t in zip(cpool, tpool):
        if _state(c) != _state(t): return ("silent", ("state", _state(c), _state(t)))
        if not np.allclose(c.detach().numpy(), t.detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True):
            return ("silent", ("value", c.detach().numpy().tolist(), t.detach().numpy().tolist()))
        if c._version != t._version: return ("silent", ("version", c._version, t._version))
    for c, t in zip(cleaves, tleaves):
        if (c.grad is None) != (t.grad is None): return ("silent", ("grad presence", c.grad is None, t.grad is None))
        if c.grad is not None and not np.allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12, equal_nan=True):
            return ("silent", ("grad", c.grad.numpy().tolist(), t.grad.numpy().tolist()))
    return None


NO_GRAD_VIEW = "A view was created in no_grad mode"   # the one known gap: see README, "Deliberate differences from torch"


@pytest.mark.filterwarnings("ignore:The .grad attribute of a Tensor that is not a leaf")   # torch's, on buffers it rebased
def test_random_programs_agree_with_torch():
    results = [(s, _compare(s)) for s in range(PROGRAMS)]
    silent = [(s, d) for s, d in results if d and d[0] == "silent"]
    raises = [(s, d) for s, d in results if d and d[0] == "raises"]
    ran = sum(1 for s, d in results if d is None)
    print(f"\n{PROGRAMS} programs: {ran} agree, {len(silent)} silent-wrong, {len(raises)} raise-or-not disagreements")
    assert not silent, f"silent wrong results (seed, detail): {silent[:3]}"
    # torch refuses a view made under no_grad whose storage was then written with grad mode on as soon as the view is
    # used; course_lib refuses it only when backward reaches it. Every other raise-or-not disagreement is a bug.
    other = [(s, d[1]) for s, d in raises if not any(NO_GRAD_VIEW in m for m in d[2])]
    assert not other, f"raise-or-not disagreements (seed, step): {other[:5]}"
