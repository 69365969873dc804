"""Hypothesis property tests: course_lib equals torch (values and gradients) on generated shapes.

* binary ops on random mutually-broadcastable shape pairs (and triples for ``where``);
* random compositions of 3-6 ops (elementwise, scalar, reductions, shape ops, indexing, matmul, binary ops with
  broadcast operands) applied to a random shape;
* reductions over random dims (int, tuple, negative) with random keepdim.

The hypothesis profile (conftest.py) is derandomized with a modest ``max_examples`` so the run is fast and
reproducible; a failure prints the shapes and seed that reproduce it.
"""
import numpy as np
import pytest
import torch
from hypothesis import given, note
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import course_lib as cl
from helpers import FLOAT_DTYPES, mask, nonzero, normal, positive, run_both

seeds = st.integers(0, 2**32 - 1)
dtypes = st.sampled_from(FLOAT_DTYPES)

# ----------------------------------------------------------------------------------------------------------
# binary ops with broadcasting
# ----------------------------------------------------------------------------------------------------------
BINARY = {
    "add": (lambda C, a, b: a + b, normal, normal),
    "sub": (lambda C, a, b: a - b, normal, normal),
    "mul": (lambda C, a, b: a * b, normal, normal),
    "div": (lambda C, a, b: a / b, normal, nonzero),
    "pow": (lambda C, a, b: a ** b, positive, normal),
    "maximum": (lambda C, a, b: C.lib.maximum(a, b), normal, normal),
    "minimum": (lambda C, a, b: C.lib.minimum(a, b), normal, normal),
    "lt": (lambda C, a, b: a < b, normal, normal),
    "ge": (lambda C, a, b: a >= b, normal, normal),
    "ne": (lambda C, a, b: a != b, normal, normal),
    "add_then_mul": (lambda C, a, b: (a + b) * a, normal, normal),
}


@pytest.mark.parametrize("op", list(BINARY))
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       seed=seeds, dtype=dtypes)
def test_binary_broadcast_matches_torch(device, op, shapes, seed, dtype):
    fn, da, db = BINARY[op]
    sa, sb = shapes.input_shapes
    note(f"shapes {sa} and {sb}")
    c_out, t_out, _, _ = run_both(fn, [da(*sa), db(*sb)], dtype, device, seed)
    assert tuple(t_out.shape) == shapes.result_shape


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=5, max_side=5))
def test_broadcast_shapes_matches_torch(shapes):
    assert tuple(cl.broadcast_shapes(*shapes.input_shapes)) == tuple(torch.broadcast_shapes(*shapes.input_shapes))


@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, min_dims=0, max_dims=3, max_side=3),
       seed=seeds, dtype=dtypes)
def test_where_broadcast_matches_torch(device, shapes, seed, dtype):
    sc, sa, sb = shapes.input_shapes
    cond = np.random.default_rng(seed).random(sc) > 0.5
    run_both(lambda C, c, a, b: C.lib.where(c, a, b), [mask(cond), normal(*sa), normal(*sb)], dtype, device, seed)


# ----------------------------------------------------------------------------------------------------------
# random compositions of 3-6 ops
# ----------------------------------------------------------------------------------------------------------
# Each step: (name, applicable(shape) -> bool, out_shape(shape, k) -> shape, extra(shape, k) -> spec|None,
#             apply(C, x, y, k) -> tensor). k is a small random int drawn per step.
def _same(s, k):
    return s


def _bcast_operand(s, k):
    """A shape broadcastable *to* s: a suffix of s with some sizes replaced by 1 (choice driven by k)."""
    n = k % (len(s) + 1)
    suffix = list(s[len(s) - n:])
    return tuple(1 if (k >> (i + 2)) & 1 else d for i, d in enumerate(suffix))


STEPS = [
    ("sin", lambda s: True, _same, None, lambda C, x, y, k: x.sin()),
    ("cos", lambda s: True, _same, None, lambda C, x, y, k: C.lib.cos(x)),
    ("tanh", lambda s: True, _same, None, lambda C, x, y, k: x.tanh()),
    ("sigmoid", lambda s: True, _same, None, lambda C, x, y, k: C.lib.sigmoid(x)),
    ("relu", lambda s: True, _same, None, lambda C, x, y, k: x.relu()),
    ("abs", lambda s: True, _same, None, lambda C, x, y, k: C.lib.abs(x)),
    ("neg", lambda s: True, _same, None, lambda C, x, y, k: -x),
    ("exp_tanh", lambda s: True, _same, None, lambda C, x, y, k: x.tanh().exp()),
    ("log1p_sq", lambda s: True, _same, None, lambda C, x, y, k: (x * x + 1).log()),
    ("sqrt1p_sq", lambda s: True, _same, None, lambda C, x, y, k: C.lib.sqrt(x * x + 1)),
    ("scale", lambda s: True, _same, None, lambda C, x, y, k: x * 0.5 + 1),
    ("rdiv", lambda s: True, _same, None, lambda C, x, y, k: 1 / (x * x + 1)),
    ("rsub_pow", lambda s: True, _same, None, lambda C, x, y, k: 2 - x ** 2),
    ("clamp", lambda s: True, _same, None, lambda C, x, y, k: x.clamp(-0.7, 0.9)),
    ("add_t", lambda s: True, _same, lambda s, k: normal(*_bcast_operand(s, k)), lambda C, x, y, k: x + y),
    ("mul_t", lambda s: True, _same, lambda s, k: normal(*_bcast_operand(s, k)), lambda C, x, y, k: y * x),
    ("sub_t", lambda s: True, _same, lambda s, k: normal(*_bcast_operand(s, k)), lambda C, x, y, k: x - y),
    ("div_t", lambda s: True, _same, lambda s, k: positive(*_bcast_operand(s, k)), lambda C, x, y, k: x / y),
    ("maximum_t", lambda s: True, _same, lambda s, k: normal(*_bcast_operand(s, k)),
     lambda C, x, y, k: C.lib.maximum(x, y)),
    ("where_t", lambda s: True, _same, lambda s, k: normal(*s), lambda C, x, y, k: C.lib.where(x > 0, x, y)),
    ("sum_last_keep", lambda s: len(s) >= 1, lambda s, k: s[:-1] + (1,), None,
     lambda C, x, y, k: x.sum(-1, keepdim=True)),
    ("mean_0", lambda s: len(s) >= 2, lambda s, k: s[1:], None, lambda C, x, y, k: x.mean(0)),
    ("var_last_keep", lambda s: len(s) >= 1 and s[-1] >= 2, lambda s, k: s[:-1] + (1,), None,
     lambda C, x, y, k: x.var(-1, keepdim=True)),
    ("logsumexp_last", lambda s: len(s) >= 2, lambda s, k: s[:-1], None, lambda C, x, y, k: x.logsumexp(-1)),
    ("softmax_last", lambda s: len(s) >= 1, _same, None, lambda C, x, y, k: x.softmax(-1)),
    ("log_softmax_0", lambda s: len(s) >= 1, _same, None, lambda C, x, y, k: C.lib.log_softmax(x, 0)),
    ("max_dim0", lambda s: len(s) >= 2, lambda s, k: s[1:], None, lambda C, x, y, k: x.max(0).values),
    ("transpose", lambda s: len(s) >= 2, lambda s, k: (s[-1],) + s[1:-1] + (s[0],), None,
     lambda C, x, y, k: x.transpose(0, -1)),
    ("permute_rev", lambda s: len(s) >= 1, lambda s, k: tuple(reversed(s)), None,
     lambda C, x, y, k: x.permute(*reversed(range(x.ndim)))),
    ("reshape_rev", lambda s: len(s) >= 1, lambda s, k: tuple(reversed(s)), None,
     lambda C, x, y, k: x.reshape(tuple(reversed(x.shape)))),
    ("flatten", lambda s: len(s) >= 1, lambda s, k: (int(np.prod(s)),), None, lambda C, x, y, k: x.flatten()),
    ("unsqueeze_expand", lambda s: len(s) <= 3, lambda s, k: (2,) + s, None,
     lambda C, x, y, k: x.unsqueeze(0).expand(2, *x.shape)),
    ("squeeze", lambda s: len(s) >= 2 and 1 in s and len([d for d in s if d != 1]) >= 1,
     lambda s, k: tuple(d for d in s if d != 1), None, lambda C, x, y, k: x.squeeze()),
    ("index_repeat", lambda s: len(s) >= 1, lambda s, k: (3,) + s[1:], None,
     lambda C, x, y, k: x[C.t([0, x.shape[0] - 1, 0])]),
    ("slice_first", lambda s: len(s) >= 1, lambda s, k: (1,) + s[1:], None, lambda C, x, y, k: x[:1]),
    ("stack_self", lambda s: len(s) <= 3, lambda s, k: (2,) + s, None,
     lambda C, x, y, k: C.lib.stack([x, x * 2])),
    ("cat_self", lambda s: len(s) >= 1, lambda s, k: s[:-1] + (2 * s[-1],), None,
     lambda C, x, y, k: C.lib.cat([x, x.sin()], -1)),
    ("matmul_w", lambda s: len(s) >= 2, lambda s, k: s[:-1] + (k % 3 + 1,),
     lambda s, k: normal(s[-1], k % 3 + 1), lambda C, x, y, k: x @ y),
]


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), data=st.data(), seed=seeds)
def test_random_composition_matches_torch(device, shape, data, seed):
    n_steps = data.draw(st.integers(3, 6), label="n_steps")
    plan, specs, s = [], [normal(*shape)], tuple(shape)
    for _ in range(n_steps):
        usable = [st_ for st_ in STEPS if st_[1](s)]
        name, _, out_shape, extra, apply = data.draw(st.sampled_from(usable), label="step")
        k = data.draw(st.integers(0, 63), label="k")
        slot = None
        if extra is not None:
            specs.append(extra(s, k))
            slot = len(specs) - 1
        plan.append((name, apply, slot, k))
        s = tuple(out_shape(s, k))
    note("plan: " + " -> ".join(p[0] for p in plan))

    def fn(C, *inputs):
        x = inputs[0]
        for _, apply, slot, k in plan:
            x = apply(C, x, None if slot is None else inputs[slot], k)
        return x

    c_out, t_out, _, _ = run_both(fn, specs, "float64", device, seed)
    assert tuple(t_out.shape) == s  # the planner's shape bookkeeping agrees with torch


# ----------------------------------------------------------------------------------------------------------
# reductions over random dims
# ----------------------------------------------------------------------------------------------------------
MULTI_DIM = ["sum", "mean", "var", "std", "amax", "amin", "logsumexp"]
SINGLE_DIM = ["max", "min", "argmax", "argmin", "softmax", "log_softmax"]


@st.composite
def shape_and_dims(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4))
    nd = len(shape)
    dims = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    dims = [d - nd if draw(st.booleans()) else d for d in dims]  # negative spellings too
    return shape, dims


@pytest.mark.parametrize("op", MULTI_DIM + SINGLE_DIM)
@given(sd=shape_and_dims(), keepdim=st.booleans(), as_int=st.booleans(), seed=seeds, dtype=dtypes)
def test_reduction_random_dims_matches_torch(device, op, sd, keepdim, as_int, seed, dtype):
    shape, dims = sd
    if op in SINGLE_DIM or (as_int and len(dims) == 1):
        dim = dims[0]
    else:
        dim = tuple(dims)
    if op in ("var", "std"):
        reduced = int(np.prod([shape[d] for d in np.atleast_1d(dim)]))
        if reduced < 2:  # torch returns nan (with a warning) for zero degrees of freedom
            dim = None
            keepdim = False
            if int(np.prod(shape)) < 2:
                shape = shape + (2,)
    note(f"{op}(shape={shape}, dim={dim}, keepdim={keepdim})")
    if op in ("softmax", "log_softmax"):
        fn = lambda C, x: getattr(x, op)(dim)  # noqa: E731
    elif dim is None:
        fn = lambda C, x: getattr(x, op)()  # noqa: E731
    else:
        fn = lambda C, x: getattr(x, op)(dim, keepdim=keepdim)  # noqa: E731
    run_both(fn, [normal(*shape)], dtype, device, seed)


@pytest.mark.parametrize("op", ["sum", "mean", "max", "min", "argmax", "argmin", "var", "std"])
@given(shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=2, max_side=4), seed=seeds, dtype=dtypes)
def test_full_reduction_matches_torch(device, op, shape, seed, dtype):
    run_both(lambda C, x: getattr(x, op)(), [normal(*shape)], dtype, device, seed)


# ----------------------------------------------------------------------------------------------------------
# indexing with generated keys
# ----------------------------------------------------------------------------------------------------------
def _torch_compatible(key):
    """torch has no negative slice steps."""
    parts = key if isinstance(key, tuple) else (key,)
    return not any(isinstance(p, slice) and p.step is not None and p.step < 0 for p in parts)


@st.composite
def shape_and_basic_key(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5))
    key = draw(hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True).filter(_torch_compatible))
    return shape, key


@given(sk=shape_and_basic_key(), seed=seeds, dtype=dtypes)
def test_basic_indexing_matches_torch(device, sk, seed, dtype):
    shape, key = sk
    note(f"x{list(shape)}[{key!r}]")
    run_both(lambda C, x: x[key], [normal(*shape)], dtype, device, seed)


@st.composite
def shape_and_int_array_key(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    key = draw(hnp.integer_array_indices(shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=5)))
    return shape, tuple(np.asarray(k, dtype=np.int64) for k in key)


@given(sk=shape_and_int_array_key(), seed=seeds, dtype=dtypes)
def test_integer_array_indexing_matches_torch(device, sk, seed, dtype):
    """Advanced indexing with (possibly negative, possibly repeated) integer index tensors: repeated indices
    must accumulate their gradients."""
    shape, key = sk
    note(f"x{list(shape)}[{[k.tolist() for k in key]}]")
    run_both(lambda C, x: x[tuple(C.t(k) for k in key)], [normal(*shape)], dtype, device, seed)


@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4), seed=seeds, dtype=dtypes)
def test_bool_mask_indexing_matches_torch(device, shape, seed, dtype):
    m = np.random.default_rng(seed + 1).random(shape) > 0.5
    run_both(lambda C, x, mk: x[mk], [normal(*shape), mask(m)], dtype, device, seed)
