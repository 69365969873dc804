"""Part 3's ops against torch: cl.multinomial (chapter 16: statistics, seeds, errors), nn.Embedding/F.embedding
(chapter 17), F.scaled_dot_product_attention and nn.MultiheadAttention (chapter 18): values and gradients in float32
and float64, on CPU and CUDA (skipped with the reason when CuPy or a GPU is missing), masks, is_causal, hypothesis
over shapes, gradcheck, reprs, parameter names and torch's errors."""
import math
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import course_lib as cl
import course_lib.nn as nn
import course_lib.nn.functional as F
from helpers import assert_same_tensor, torch_device

TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-4, atol=1e-5)}


def pair(a, dtype="float64", device="cpu", grad=True):
    "The same data as a course_lib tensor and a torch tensor."
    a = np.asarray(a)
    if a.dtype.kind == "f":
        return (cl.tensor(a, dtype=getattr(cl, dtype), device=device, requires_grad=grad),
                torch.tensor(a, dtype=getattr(torch, dtype), device=torch_device(device), requires_grad=grad))
    return cl.tensor(a, device=device), torch.tensor(a, device=torch_device(device))


def backward_both(out, tout, dtype, device, seed=1):
    g = np.random.default_rng(seed).standard_normal(tuple(tout.shape))
    out.backward(cl.tensor(g, dtype=getattr(cl, dtype), device=device))
    tout.backward(torch.tensor(g, dtype=getattr(torch, dtype), device=torch_device(device)))


def same_error(fn, tfn, exc=Exception):
    "Both raise, the same exception type with the same message (a shape in it is a course_lib.Size where torch's is a torch.Size)."
    with pytest.raises(exc) as ours: fn()
    with pytest.raises(exc) as theirs: tfn()
    assert type(ours.value) is type(theirs.value) and str(ours.value).replace("course_lib.Size", "torch.Size") == str(theirs.value)


# ------------------------------------------------------------------ multinomial (chapter 16)

@pytest.mark.parametrize("replacement", [True, False])
def test_multinomial_first_draw_frequencies(replacement):
    "The first draw follows the normalised weights (both modes): every count within 5 binomial standard deviations."
    w = cl.tensor([1.0, 0.0, 3.0, 6.0, 0.5])
    p = w.numpy() / w.numpy().sum()
    n = 40_000
    g = cl.Generator().manual_seed(0)
    if replacement: first = cl.multinomial(w, n, True, generator=g)                     # n draws from one row
    else: first = cl.multinomial(cl.stack([w] * n), 2, False, generator=g)[:, 0]         # the first of two, from n rows
    counts = np.bincount(first.numpy().ravel(), minlength=5)
    sd = np.sqrt(n * p * (1 - p))
    assert counts[1] == 0, "a zero weight was drawn first"
    assert np.all(np.abs(counts - n * p) <= 5 * sd + 1e-9), (counts, n * p)


def test_multinomial_without_replacement_second_draw():
    "Without replacement the second index follows the weights renormalised without the first: P(second = j | first = i) = p_j / (1 - p_i)."
    w = np.array([0.5, 0.3, 0.2])
    n = 30_000
    draws = cl.multinomial(cl.tensor(np.tile(w, (n, 1))), 2, generator=cl.Generator().manual_seed(3)).numpy()
    assert all(len(set(r)) == 2 for r in draws[:100])
    first0 = draws[draws[:, 0] == 0]
    frac = np.mean(first0[:, 1] == 1)
    expect = 0.3 / 0.5
    assert abs(frac - expect) <= 5 * math.sqrt(expect * (1 - expect) / len(first0))
    # the whole row is a permutation when num_samples == n
    full = cl.multinomial(cl.tensor(w), 3, generator=cl.Generator().manual_seed(4))
    assert sorted(full.tolist()) == [0, 1, 2]


def test_multinomial_seed_shape_dtype_method():
    w = cl.tensor([[0.2, 0.8, 0.0], [1.0, 1.0, 1.0]])
    a = cl.multinomial(w, 6, replacement=True, generator=cl.Generator().manual_seed(7))
    b = w.multinomial(6, True, generator=cl.Generator().manual_seed(7))
    c = cl.multinomial(w, 6, replacement=True, generator=cl.Generator().manual_seed(8))
    assert a.dtype == cl.int64 and tuple(a.shape) == (2, 6) and a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert (a[0] != 2).numpy().all()                         # zero weight never drawn with replacement
    cl.manual_seed(5); d = cl.multinomial(w[1], 4, True)
    cl.manual_seed(5); e = cl.multinomial(w[1], 4, True)
    assert d.tolist() == e.tolist() and tuple(d.shape) == (4,)
    assert tuple(cl.multinomial(cl.ones(0, 3), 2).shape) == (0, 2)
    assert cl.multinomial(cl.tensor([1.0, 0.0, 0.0]), 2).tolist() == torch.multinomial(torch.tensor([1.0, 0.0, 0.0]), 2).tolist()


@pytest.mark.parametrize("args", [((1, 0, 0), 2), (((1.0, 1.0),), 0), ((1.0, 1.0), 3), ((1.0, -1.0), 1), ((1.0, float("nan")), 1),
                                  ((1.0, float("inf")), 1), ((0.0, 0.0), 1), ((((1.0,),),), 1), ((1.0, 2.0), 1.5), ((1.0, 2.0), True)],
                         ids=str)
def test_multinomial_errors_match_torch(args):
    data, k = args
    arr = np.array(data)
    ours, theirs = cl.tensor(arr), torch.tensor(arr)
    same_error(lambda: cl.multinomial(ours, k), lambda: torch.multinomial(theirs, k))


def test_multinomial_scalar_input_errors_like_torch():
    same_error(lambda: cl.multinomial(cl.tensor(1.0), 1), lambda: torch.multinomial(torch.tensor(1.0), 1))


def test_multinomial_on_device(device):
    w = cl.tensor([0.0, 1.0, 1.0], device=device)
    out = cl.multinomial(w, 10, True, generator=cl.Generator().manual_seed(0))
    assert out.device.type == device and out.dtype == cl.int64 and 0 not in out.cpu().tolist()


# ------------------------------------------------------------------ embedding and one_hot (chapters 5, 17)

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("options", [{}, {"padding_idx": 0}, {"padding_idx": -2}, {"scale_grad_by_freq": True},
                                     {"padding_idx": 3, "scale_grad_by_freq": True}], ids=str)
def test_embedding_matches_torch(options, dtype, device):
    rng = np.random.default_rng(0)
    w, tw = pair(rng.standard_normal((7, 5)), dtype, device)
    idx, tidx = pair(np.array([[1, 0, 1, 6], [3, 1, 1, 0], [5, 5, 2, 3]]), device=device)
    out, tout = F.embedding(idx, w, **options), torch.nn.functional.embedding(tidx, tw, **options)
    assert_same_tensor(out, tout, "output", **TOL[dtype])
    assert out.grad_fn.name() == tout.grad_fn.name() == "EmbeddingBackward0"
    backward_both(out, tout, dtype, device)
    assert_same_tensor(w.grad, tw.grad, "gradient of the table", **TOL[dtype])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=3), st.integers(1, 9), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_embedding_hypothesis_shapes(shape, num, dim, seed):
    rng = np.random.default_rng(seed)
    w, tw = pair(rng.standard_normal((num, dim)))
    idx, tidx = pair(rng.integers(0, num, shape))
    out, tout = F.embedding(idx, w), torch.nn.functional.embedding(tidx, tw)
    assert_same_tensor(out, tout, **TOL["float64"])
    backward_both(out, tout, "float64", "cpu", seed)
    assert_same_tensor(w.grad, tw.grad, **TOL["float64"])


def test_embedding_int32_indices_max_norm_and_gradcheck():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((6, 4)) * 3
    w, tw = pair(a.copy(), grad=False)
    idx = np.array([0, 2, 2, 5], np.int32)
    out = F.embedding(cl.tensor(idx), w, max_norm=1.5)
    tout = torch.nn.functional.embedding(torch.tensor(idx), tw, max_norm=1.5)
    assert_same_tensor(out, tout, **TOL["float64"])
    assert_same_tensor(w, tw, "the table after the in-place renorm", **TOL["float64"])
    assert w._version == tw._version > 0
    table = cl.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    # the true gradient (scale_grad_by_freq and a used padding_idx change it on purpose, as in torch)
    assert cl.gradcheck(lambda t: F.embedding(cl.tensor([[0, 4], [4, 4]]), t, padding_idx=1), (table,))


@pytest.mark.parametrize("case", ["too big", "negative", "float", "bool", "1-D weight", "padding_idx"])
def test_embedding_errors_match_torch(case):
    w, tw = pair(np.ones((5, 3)))
    make = {"too big": lambda lib, t: lib.tensor([5]), "negative": lambda lib, t: lib.tensor([-1]),
            "float": lambda lib, t: lib.tensor([1.0]), "bool": lambda lib, t: lib.tensor([True])}
    if case in make:
        same_error(lambda: F.embedding(make[case](cl, w), w), lambda: torch.nn.functional.embedding(make[case](torch, tw), tw))
    elif case == "1-D weight":
        same_error(lambda: F.embedding(cl.tensor([1]), cl.ones(5)), lambda: torch.nn.functional.embedding(torch.tensor([1]), torch.ones(5)))
    else:
        same_error(lambda: nn.Embedding(5, 3, padding_idx=5), lambda: torch.nn.Embedding(5, 3, padding_idx=5))
        same_error(lambda: F.embedding(cl.tensor([1]), w, padding_idx=-6), lambda: torch.nn.functional.embedding(torch.tensor([1]), tw, padding_idx=-6))


def test_embedding_module_like_torch():
    cl.manual_seed(0)
    for kw in ({}, {"padding_idx": -1}, {"max_norm": 1.0, "norm_type": 1.0}, {"scale_grad_by_freq": True}):
        assert repr(nn.Embedding(27, 10, **kw)) == repr(torch.nn.Embedding(27, 10, **kw))
    e = nn.Embedding(27, 10, padding_idx=3)
    assert e.padding_idx == 3 and [n for n, _ in e.named_parameters()] == ["weight"] and e.weight.dtype == cl.float32
    assert np.all(e.weight.detach().numpy()[3] == 0)
    w = cl.nn.Embedding(1000, 50).weight.detach().numpy()       # N(0, 1) like torch's init
    assert abs(w.mean()) < 0.02 and abs(w.std() - 1) < 0.02
    pre = cl.tensor([[1.0, 2.0], [3.0, 4.0]])
    frozen = nn.Embedding.from_pretrained(pre)
    assert not frozen.weight.requires_grad and frozen(cl.tensor([1])).tolist() == [[3.0, 4.0]]
    assert nn.Embedding.from_pretrained(pre, freeze=False).weight.requires_grad
    same_error(lambda: nn.Embedding.from_pretrained(cl.ones(3)), lambda: torch.nn.Embedding.from_pretrained(torch.ones(3)))


def test_one_hot_matches_torch():
    idx = np.array([[0, 3], [2, 2]])
    for k in (-1, 5):
        out, tout = F.one_hot(cl.tensor(idx), k), torch.nn.functional.one_hot(torch.tensor(idx), k)
        assert out.dtype == cl.int64 and out.tolist() == tout.tolist()
    same_error(lambda: F.one_hot(cl.tensor([3]), 3), lambda: torch.nn.functional.one_hot(torch.tensor([3]), 3))
    same_error(lambda: F.one_hot(cl.tensor([1.0]), 3), lambda: torch.nn.functional.one_hot(torch.tensor([1.0]), 3))


# ------------------------------------------------------------------ scaled_dot_product_attention (chapter 18)

def sdpa_both(shapes, dtype="float64", device="cpu", mask=None, mask_grad=False, seed=0, **kw):
    rng = np.random.default_rng(seed)
    (q, tq), (k, tk), (v, tv) = (pair(rng.standard_normal(s), dtype, device) for s in shapes)
    ckw, tkw = dict(kw), dict(kw)
    if mask is not None:
        m, tm = pair(mask, dtype, device, grad=mask_grad) if np.asarray(mask).dtype.kind == "f" else pair(mask, device=device)
        ckw["attn_mask"], tkw["attn_mask"] = m, tm
    out = F.scaled_dot_product_attention(q, k, v, **ckw)
    tout = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, **tkw)
    assert_same_tensor(out, tout, "output", **TOL[dtype])
    backward_both(out, tout, dtype, device, seed)
    for name, a, t in (("query", q, tq), ("key", k, tk), ("value", v, tv)):
        assert_same_tensor(a.grad, t.grad, f"gradient of {name}", **TOL[dtype])
    if mask_grad: assert_same_tensor(ckw["attn_mask"].grad, tkw["attn_mask"].grad, "gradient of attn_mask", **TOL[dtype])


MASKS = {"none": None, "bool": np.random.default_rng(5).random((5, 7)) > 0.3, "float": np.random.default_rng(6).standard_normal((5, 7)),
         "float per head": np.random.default_rng(7).standard_normal((3, 5, 7))}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("mask", list(MASKS))
def test_sdpa_matches_torch(mask, dtype, device):
    sdpa_both([(2, 3, 5, 8), (2, 3, 7, 8), (2, 3, 7, 4)], dtype, device, mask=MASKS[mask], mask_grad=mask.startswith("float"))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("kw", [{"is_causal": True}, {"scale": 0.25}, {"is_causal": True, "scale": 2.0}], ids=str)
def test_sdpa_causal_and_scale(kw, dtype, device):
    sdpa_both([(2, 4, 6, 8), (2, 4, 6, 8), (2, 4, 6, 5)], dtype, device, **kw)
    sdpa_both([(3, 4, 8), (3, 6, 8), (3, 6, 2)], dtype, device, **kw)          # L < S: torch's top-left causal mask


def test_sdpa_grouped_query_heads(device):
    sdpa_both([(2, 6, 5, 4), (2, 2, 7, 4), (2, 2, 7, 3)], "float64", device, enable_gqa=True)
    sdpa_both([(2, 6, 5, 4), (2, 3, 5, 4), (2, 3, 5, 3)], "float64", device, enable_gqa=True, is_causal=True)


def test_sdpa_fully_masked_row_and_dropout():
    rng = np.random.default_rng(0)
    mask = np.ones((4, 4), bool); mask[2] = False
    sdpa_both([(1, 4, 3), (1, 4, 3), (1, 4, 3)], mask=mask)                 # torch gives 0 there, and so do we
    q = cl.tensor(rng.standard_normal((2, 2, 50, 4)), requires_grad=True)
    v = cl.ones(2, 2, 50, 6, dtype=cl.float64)
    out0 = F.scaled_dot_product_attention(q, q, v)
    cl.manual_seed(0)
    out = F.scaled_dot_product_attention(q, q, v, dropout_p=0.5)
    assert np.allclose(out0.detach().numpy(), 1.0)
    # each output is (sum of the kept weights) / 0.5: mean 1 over many rows, never the undropped 1 everywhere
    assert abs(out.detach().numpy().mean() - 1) < 0.1 and not np.allclose(out.detach().numpy(), 1.0)
    out.sum().backward()
    assert q.grad is not None and np.isfinite(q.grad.numpy()).all()


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 6), st.integers(1, 6), st.integers(1, 5),
       st.integers(1, 4), st.booleans(), st.integers(0, 2**31 - 1))
def test_sdpa_hypothesis_shapes(batch, L, S, E, Ev, causal, seed):
    sdpa_both([tuple(batch) + (L, E), tuple(batch) + (S, E), tuple(batch) + (S, Ev)], is_causal=causal, seed=seed)


def test_sdpa_gradcheck():
    rng = np.random.default_rng(1)
    q, k, v = (cl.tensor(rng.standard_normal(s), requires_grad=True) for s in ((2, 3, 4), (2, 5, 4), (2, 5, 3)))
    m = cl.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    assert cl.gradcheck(lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m), (q, k, v, m))
    assert cl.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=0.7), (q, k, v))


@pytest.mark.parametrize("case", ["feature size", "value length", "dtypes", "mask and causal", "int mask", "gqa heads"])
def test_sdpa_errors_match_torch(case):
    def call(lib, F_):
        o = lambda *s, dtype=None: lib.ones(*s, dtype=dtype or lib.float64)
        q = o(1, 3, 4)
        args = {"feature size": ((q, o(1, 3, 3), q), {}), "value length": ((q, q, o(1, 2, 4)), {}),
                "dtypes": ((q, o(1, 3, 4, dtype=lib.float32), q), {}),
                "mask and causal": ((q, q, q), {"attn_mask": o(3, 3, dtype=lib.bool), "is_causal": True}),
                "int mask": ((q, q, q), {"attn_mask": o(3, 3, dtype=lib.int64)}),
                "gqa heads": ((o(1, 4, 2, 3), o(1, 3, 2, 3), o(1, 3, 2, 3)), {"enable_gqa": True})}[case]
        return F_.scaled_dot_product_attention(*args[0], **args[1])
    same_error(lambda: call(cl, F), lambda: call(torch, torch.nn.functional), RuntimeError)


# ------------------------------------------------------------------ MultiheadAttention (chapter 18)

def mha_both(E=8, H=2, L=5, S=5, N=3, self_attn=True, call=None, dtype="float64", device="cpu", **kw):
    cl.manual_seed(0)
    ours = nn.MultiheadAttention(E, H, **kw).to(getattr(cl, dtype)).to(device)
    theirs = torch.nn.MultiheadAttention(E, H, **kw).to(getattr(torch, dtype)).to(torch_device(device))
    theirs.load_state_dict({k: torch.tensor(v.cpu().numpy()) for k, v in ours.state_dict().items()})
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    rng = np.random.default_rng(E + L)
    bf = kw.get("batch_first", False)
    shape = lambda T, F_: (N, T, F_) if bf else (T, N, F_)
    if N == 0: shape = lambda T, F_: (T, F_)
    q, tq = pair(rng.standard_normal(shape(L, E)), dtype, device)
    (k, tk), (v, tv) = ((q, tq), (q, tq)) if self_attn else (pair(rng.standard_normal(shape(S, kw.get(d) or E)), dtype, device) for d in ("kdim", "vdim"))
    call = call or {}
    tcall = {n: torch.tensor(m.cpu().numpy(), device=torch_device(device)) if isinstance(m, cl.Tensor) else m for n, m in call.items()}
    (out, w), (tout, tw) = ours(q, k, v, **call), theirs(tq, tk, tv, **tcall)
    assert_same_tensor(out, tout, "output", **TOL[dtype])
    assert (w is None) == (tw is None)
    if w is not None: assert_same_tensor(w, tw, "attention weights", **TOL[dtype])
    backward_both(out, tout, dtype, device)
    assert_same_tensor(q.grad, tq.grad, "gradient of the query", **TOL[dtype])
    for (n, p), tp in zip(ours.named_parameters(), theirs.parameters()):
        assert_same_tensor(p.grad, tp.grad, f"gradient of {n}", **TOL[dtype])


CAUSAL5 = np.triu(np.ones((5, 5), bool), 1)
PADDED = np.array([[False] * 5, [False] * 3 + [True] * 2, [False] * 4 + [True]])
MHA_CASES = {
    "self-attention": dict(),
    "batch_first causal": dict(batch_first=True, call={"attn_mask": CAUSAL5}),
    "float mask": dict(call={"attn_mask": np.random.default_rng(1).standard_normal((5, 5))}),
    "3-D mask": dict(call={"attn_mask": np.random.default_rng(2).random((6, 5, 5)) > 0.8}),
    "padded keys per head": dict(call={"key_padding_mask": PADDED, "average_attn_weights": False}),
    "need_weights=False": dict(call={"attn_mask": CAUSAL5, "need_weights": False, "is_causal": True}),
    "no bias": dict(bias=False),
    "cross kdim vdim": dict(self_attn=False, S=4, kdim=6, vdim=3),
    "bias_kv zero_attn": dict(self_attn=False, S=4, add_bias_kv=True, add_zero_attn=True, call={"key_padding_mask": PADDED[:, :4]}),
    "unbatched": dict(N=0, call={"attn_mask": CAUSAL5}),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", list(MHA_CASES))
def test_multihead_attention_matches_torch(case, dtype, device):
    kw = dict(MHA_CASES[case])
    call = {n: cl.tensor(v) if isinstance(v, np.ndarray) else v for n, v in kw.pop("call", {}).items()}
    call = {n: v.to(getattr(cl, dtype)) if isinstance(v, cl.Tensor) and v.dtype.is_floating_point else v for n, v in call.items()}
    call = {n: v.to(device) if isinstance(v, cl.Tensor) else v for n, v in call.items()}
    mha_both(call=call, dtype=dtype, device=device, **kw)


@settings(max_examples=15, deadline=None)
@given(st.sampled_from([(4, 1), (4, 2), (6, 3), (8, 4)]), st.integers(1, 5), st.integers(1, 3), st.booleans())
def test_multihead_attention_hypothesis(eh, L, N, batch_first):
    E, H = eh
    mha_both(E, H, L=L, N=N, batch_first=batch_first, call={"attn_mask": cl.tensor(np.triu(np.ones((L, L), bool), 1))})


def test_multihead_attention_module_like_torch():
    cl.manual_seed(0)
    for kw in ({}, {"kdim": 4, "vdim": 6, "batch_first": True}, {"bias": False, "add_bias_kv": True}):
        ours, theirs = nn.MultiheadAttention(8, 2, **kw), torch.nn.MultiheadAttention(8, 2, **kw)
        assert repr(ours) == repr(theirs)
        assert [(n, tuple(p.shape)) for n, p in ours.named_parameters()] == [(n, tuple(p.shape)) for n, p in theirs.named_parameters()]
    m = nn.MultiheadAttention(64, 4)
    bound = math.sqrt(6 / (64 + 3 * 64))                      # xavier_uniform_ on (3E, E)
    w = m.in_proj_weight.detach().numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.all(m.in_proj_bias.detach().numpy() == 0) and np.all(m.out_proj.bias.detach().numpy() == 0)
    assert m.head_dim == 16 and m.batch_first is False and m._qkv_same_embed_dim
    same_error(lambda: nn.MultiheadAttention(8, 3), lambda: torch.nn.MultiheadAttention(8, 3), AssertionError)
    same_error(lambda: nn.MultiheadAttention(0, 2), lambda: torch.nn.MultiheadAttention(0, 2), ValueError)


def test_multihead_attention_errors_match_torch():
    cl.manual_seed(0)
    ours, theirs = nn.MultiheadAttention(8, 2), torch.nn.MultiheadAttention(8, 2)
    x, tx = cl.ones(3, 2, 8), torch.ones(3, 2, 8)
    same_error(lambda: ours(x, x, x, is_causal=True), lambda: theirs(tx, tx, tx, is_causal=True), RuntimeError)
    same_error(lambda: ours(x, x, x, attn_mask=cl.ones(2, 3, dtype=cl.bool)), lambda: theirs(tx, tx, tx, attn_mask=torch.ones(2, 3, dtype=torch.bool)), RuntimeError)
    same_error(lambda: ours(x, x, x, attn_mask=cl.ones(5, 3, 3)), lambda: theirs(tx, tx, tx, attn_mask=torch.ones(5, 3, 3)), RuntimeError)


def test_multihead_attention_dropout_only_in_training():
    cl.manual_seed(0)
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = cl.randn(2, 6, 8)
    a = m(x, x, x)[0]
    m.eval()
    b, c = m(x, x, x)[0], m(x, x, x, need_weights=False)[0]
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())
    assert np.allclose(b.detach().numpy(), c.detach().numpy(), atol=1e-6)


def test_multihead_attention_gradcheck():
    cl.manual_seed(0)
    m = nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = cl.randn(2, 3, 4, dtype=cl.float64, requires_grad=True)
    mask = cl.triu(cl.ones(3, 3, dtype=cl.bool), diagonal=1)
    assert cl.gradcheck(lambda x: m(x, x, x, attn_mask=mask)[0], (x,))
    assert cl.gradcheck(lambda x: m(x, x, x, attn_mask=mask, need_weights=False)[0], (x,))
