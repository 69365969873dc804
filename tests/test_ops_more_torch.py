"""The ops issue 15 adds (chapter 4), cross-checked against torch like tests/test_ops_torch.py: each case is one expression
``fn(C, *inputs)`` evaluated with torch and with course_lib on the same numbers; torch's result is the reference for the
value, dtype, shape, requires_grad and, through ``backward`` with the same random upstream gradient, every input's ``.grad``.
Float32 and float64, every device of conftest.DEVICES. Hypothesis properties over shapes follow the table."""
import math
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import course_lib as cl
from helpers import FLOAT_DTYPES, fixed, integers, mask, nonzero, normal, positive, run_both, seed_for, unit, paired, \
    assert_same_tensor

CASES = []


def case(name, fn, *specs, scale=1.0):
    CASES.append(pytest.param(SimpleNamespace(name=name, fn=fn, specs=specs, scale=scale), id=name))


DISTINCT = [[3.0, 1.0, 2.0, -0.5], [0.25, 5.0, 4.0, -2.0], [1.5, -1.0, 0.75, 2.5]]   # no ties: indices are unambiguous

# ----------------------------------------------------------------------------------------------------------
# sort, argsort, topk
# ----------------------------------------------------------------------------------------------------------
case("sort_last", lambda C, x: x.sort(), normal(3, 4))
case("sort_dim0_desc", lambda C, x: C.lib.sort(x, 0, descending=True), normal(3, 4))
case("sort_stable_kw", lambda C, x: x.sort(dim=1, stable=True), normal(2, 5))
case("sort_1d", lambda C, x: x.sort(), normal(6))
case("sort_3d_mid", lambda C, x: x.sort(1).values * 2, normal(2, 3, 4))
case("sort_values_times_x", lambda C, x: x.sort(0).values * x, normal(3, 4))
case("argsort", lambda C, x: x.argsort(), normal(3, 4))
case("argsort_desc_dim0", lambda C, x: C.lib.argsort(x, dim=0, descending=True), normal(3, 4))
case("topk_2", lambda C, x: x.topk(2), normal(3, 4))
case("topk_dim0_smallest", lambda C, x: C.lib.topk(x, 2, dim=0, largest=False), normal(3, 4))
case("topk_values_sum", lambda C, x: x.topk(3, dim=1).values.sum(), normal(2, 5))
case("topk_k_all", lambda C, x: x.topk(4).values, normal(3, 4))
case("topk_1d", lambda C, x: x.topk(1), normal(5))
# tril, triu
case("tril", lambda C, x: x.tril(), normal(3, 4))
case("tril_module_pos", lambda C, x: C.lib.tril(x, 1), normal(4, 4))
case("tril_neg", lambda C, x: x.tril(diagonal=-1), normal(4, 3))
case("tril_batched", lambda C, x: x.tril(), normal(2, 3, 3))
case("triu", lambda C, x: x.triu(), normal(3, 4))
case("triu_module_neg", lambda C, x: C.lib.triu(x, -1), normal(4, 4))
case("triu_batched_pos", lambda C, x: x.triu(2), normal(2, 4, 5))

# ----------------------------------------------------------------------------------------------------------
# elementwise: erf, atan2, nan_to_num
# ----------------------------------------------------------------------------------------------------------
case("erf", lambda C, x: x.erf(), normal(3, 4))
case("erf_module_0d", lambda C, x: C.lib.erf(x), normal())
case("atan2", lambda C, a, b: C.lib.atan2(a, b), normal(3, 4), normal(3, 4))
case("atan2_bcast", lambda C, a, b: a.atan2(b), normal(3, 4), nonzero(4))
case("arctan2", lambda C, a, b: C.lib.arctan2(a, b), normal(2, 3), normal(2, 3))
case("nan_to_num_passthrough", lambda C, x: x.nan_to_num(), normal(3, 4))
case("nan_to_num_replaced", lambda C, x: C.lib.nan_to_num(x / (x - x), nan=2.0, posinf=3.0, neginf=-3.0) * x, fixed([[1.0, 2.0], [0.5, -1.0]]))
case("nan_to_num_inf", lambda C, x: (x / C.t([0.0, 1.0, 0.0], str(x.dtype).split(".")[1])).nan_to_num(posinf=9.0, neginf=-9.0),
     fixed([1.0, 2.0, -3.0]))
case("isnan_isinf_isfinite", lambda C, x: C.lib.stack([(x / (x - x)).isnan(), (1 / (x - x)).isinf(), x.isfinite()]), normal(5))
case("isclose", lambda C, a: C.lib.isclose(a, a + 1e-9), normal(3, 4))
case("isclose_method_tol", lambda C, a, b: a.isclose(b, rtol=0.5, atol=0.5), normal(3, 4), normal(3, 4))

# ----------------------------------------------------------------------------------------------------------
# reductions: prod, cumsum, cumprod, kthvalue, median, mode, norms, counting
# ----------------------------------------------------------------------------------------------------------
case("prod_all", lambda C, x: x.prod(), normal(3, 4))
case("prod_dim", lambda C, x: C.lib.prod(x, 1), normal(3, 4))
case("prod_dim_keepdim", lambda C, x: x.prod(0, keepdim=True), normal(3, 4))
case("prod_zero", lambda C, x: x.prod(), fixed([[1.0, 0.0, 2.0], [3.0, 4.0, 5.0]]))
case("prod_two_zeros", lambda C, x: x.prod(1), fixed([[0.0, 0.0, 2.0], [3.0, 0.0, 5.0]]))
case("prod_0d", lambda C, x: x.prod(), normal())
case("prod_int", lambda C, x: x.prod(), integers([[1, 2], [3, 4]]))
case("cumsum", lambda C, x: x.cumsum(1), normal(3, 4))
case("cumsum_module_neg", lambda C, x: C.lib.cumsum(x, -2), normal(2, 3, 4))
case("cumsum_int", lambda C, x: x.cumsum(0), integers([1, 2, 3]))
case("cumsum_0d", lambda C, x: x.cumsum(0), normal())
case("cumprod", lambda C, x: x.cumprod(1), normal(3, 4))
case("cumprod_dim0", lambda C, x: C.lib.cumprod(x, 0), normal(3, 4))
case("cumprod_zeros", lambda C, x: x.cumprod(1), fixed([[1.0, 0.0, 2.0, 3.0], [0.0, 2.0, 0.0, 4.0], [2.0, 3.0, 4.0, 0.0]]))
case("kthvalue", lambda C, x: x.kthvalue(2), fixed(DISTINCT))
case("kthvalue_dim0_keepdim", lambda C, x: C.lib.kthvalue(x, 3, 0, keepdim=True), fixed(DISTINCT))
case("median_all", lambda C, x: x.median(), fixed(DISTINCT))
case("median_dim", lambda C, x: x.median(1), fixed(DISTINCT))
case("median_dim0_keepdim", lambda C, x: C.lib.median(x, 0, keepdim=True), fixed(DISTINCT))
case("median_even_lower", lambda C, x: x.median(), fixed([4.0, 1.0, 3.0, 2.0]))
case("mode", lambda C, x: x.mode(), fixed([[1.0, 2.0, 2.0, 3.0], [4.0, 4.0, 0.0, 5.0], [7.0, 1.0, 7.0, 1.0]]))
case("mode_dim0", lambda C, x: C.lib.mode(x, 0), fixed([[1.0, 2.0], [1.0, 3.0], [0.0, 3.0]]))
case("norm", lambda C, x: x.norm(), normal(3, 4))
case("norm_module_dim", lambda C, x: C.lib.norm(x, dim=1), normal(3, 4))
case("norm_p1_keepdim", lambda C, x: x.norm(1, dim=0, keepdim=True), normal(3, 4))
case("norm_inf", lambda C, x: x.norm(float("inf")), normal(3, 4))
case("norm_neg_inf_dim", lambda C, x: x.norm(-float("inf"), dim=1), normal(3, 4))
case("norm_inf_ties", lambda C, x: x.norm(float("inf")), fixed([[1.0, -3.0], [3.0, 2.0]]))
case("norm_p3", lambda C, x: x.norm(3), normal(3, 4))
case("norm_p0", lambda C, x: x.norm(0, dim=1), fixed([[1.0, 0.0, 2.0], [0.0, 0.0, 1.0]]))
case("norm_fro_dims", lambda C, x: x.norm("fro", dim=(0, 1)), normal(2, 3, 4))
case("norm_zero_vector", lambda C, x: (x * 0).norm(dim=1), normal(2, 3))
case("linalg_norm", lambda C, x: C.lib.linalg.norm(x), normal(3, 4))
case("linalg_norm_vec_ord", lambda C, x: C.lib.linalg.norm(x, 1), normal(5))
case("linalg_norm_matrix_fro", lambda C, x: C.lib.linalg.norm(x, "fro"), normal(3, 4))
case("linalg_norm_matrix_1", lambda C, x: C.lib.linalg.norm(x, 1), normal(3, 4))
case("linalg_norm_matrix_inf", lambda C, x: C.lib.linalg.norm(x, float("inf")), normal(3, 4))
case("linalg_norm_dim", lambda C, x: C.lib.linalg.norm(x, dim=-1, keepdim=True), normal(2, 3, 4))
case("linalg_vector_norm", lambda C, x: C.lib.linalg.vector_norm(x), normal(3, 4))
case("linalg_vector_norm_ord_dim", lambda C, x: C.lib.linalg.vector_norm(x, ord=0.5, dim=(0, 2)), positive(2, 3, 4))
case("linalg_matrix_norm_neg1", lambda C, x: C.lib.linalg.matrix_norm(x, -1), normal(2, 3, 4))
case("count_nonzero", lambda C, x: C.lib.count_nonzero(x), integers([[0, 1, 2], [0, 0, 3]]))
case("count_nonzero_dim", lambda C, x: x.count_nonzero(dim=0), integers([[0, 1, 2], [0, 0, 3]]))
case("any_all", lambda C, x: C.lib.stack([x.any(), x.all(), (x > -10).all()]), normal(3, 4))
case("any_dim_keepdim", lambda C, x: (x > 0).any(1, keepdim=True), normal(3, 4))
case("all_dim", lambda C, x: C.lib.all(x > -0.5, dim=0), normal(3, 4))
case("unique", lambda C, x: x.unique(), integers([3, 1, 2, 3, 1]))
case("unique_counts_inverse", lambda C, x: C.lib.unique(x, return_inverse=True, return_counts=True), integers([[3, 1], [2, 3]]))
case("unique_dim", lambda C, x: x.unique(dim=0), integers([[1, 2], [0, 1], [1, 2]]))

# ----------------------------------------------------------------------------------------------------------
# shape: flip, roll, repeat, tile, movedim, swapaxes, broadcast_to, stacks, meshgrid, diag, diagonal, trace, diff, cross
# ----------------------------------------------------------------------------------------------------------
case("flip", lambda C, x: x.flip(0), normal(3, 4))
case("flip_module_dims", lambda C, x: C.lib.flip(x, (0, 2)), normal(2, 3, 4))
case("flip_neg", lambda C, x: x.flip([-1]), normal(3, 4))
case("roll", lambda C, x: x.roll(1), normal(3, 4))
case("roll_dim", lambda C, x: C.lib.roll(x, -2, 1), normal(3, 4))
case("roll_multi", lambda C, x: x.roll((1, 2), (0, 1)), normal(3, 4))
case("repeat", lambda C, x: x.repeat(2, 3), normal(3, 4))
case("repeat_more_dims", lambda C, x: x.repeat(2, 1, 2), normal(3, 4))
case("repeat_tuple", lambda C, x: x.repeat((1, 2)), normal(4))
case("tile", lambda C, x: x.tile((2,)), normal(3, 4))
case("tile_module_more", lambda C, x: C.lib.tile(x, (2, 1, 2)), normal(3, 4))
case("repeat_interleave", lambda C, x: x.repeat_interleave(2), normal(2, 3))
case("repeat_interleave_dim", lambda C, x: C.lib.repeat_interleave(x, 3, dim=1), normal(2, 3))
case("repeat_interleave_counts", lambda C, x: x.repeat_interleave(C.t([1, 0, 2]), dim=0), normal(3, 2))
case("movedim", lambda C, x: x.movedim(0, -1), normal(2, 3, 4))
case("movedim_multi", lambda C, x: C.lib.movedim(x, (0, 1), (2, 0)), normal(2, 3, 4))
case("moveaxis", lambda C, x: x.moveaxis(2, 0), normal(2, 3, 4))
case("swapaxes", lambda C, x: x.swapaxes(0, 2), normal(2, 3, 4))
case("swapdims_module", lambda C, x: C.lib.swapdims(x, 0, 1), normal(3, 4))
case("broadcast_to", lambda C, x: x.broadcast_to((2, 3, 4)), normal(3, 1))
case("broadcast_to_module", lambda C, x: C.lib.broadcast_to(x, (3, 4)), normal(4))
case("hstack", lambda C, a, b: C.lib.hstack([a, b]), normal(3, 2), normal(3, 4))
case("hstack_1d", lambda C, a, b: C.lib.hstack((a, b)), normal(3), normal(2))
case("vstack", lambda C, a, b: C.lib.vstack([a, b]), normal(4), normal(2, 4))
case("dstack", lambda C, a, b: C.lib.dstack([a, b]), normal(3, 2), normal(3, 2))
case("dstack_1d", lambda C, a, b: C.lib.dstack([a, b]), normal(3), normal(3))
case("meshgrid_ij", lambda C, a, b: C.lib.stack(C.lib.meshgrid(a, b, indexing="ij")), normal(3), normal(4))
case("meshgrid_xy", lambda C, a, b, c: C.lib.stack(C.lib.meshgrid(a, b, c, indexing="xy")), normal(3), normal(4), normal(2))
case("diagonal", lambda C, x: x.diagonal(), normal(3, 4))
case("diagonal_offset", lambda C, x: C.lib.diagonal(x, 1), normal(3, 4))
case("diagonal_neg_offset_dims", lambda C, x: x.diagonal(-1, 2, 0), normal(3, 2, 4))
case("diagonal_batched", lambda C, x: x.diagonal(dim1=-2, dim2=-1), normal(2, 3, 3))
case("diag_embed_1d", lambda C, x: x.diag(), normal(3))
case("diag_1d_offset", lambda C, x: C.lib.diag(x, -2), normal(3))
case("diag_2d", lambda C, x: C.lib.diag(x), normal(3, 4))
case("diag_2d_offset", lambda C, x: x.diag(2), normal(3, 4))
case("trace", lambda C, x: x.trace(), normal(3, 4))
case("trace_module", lambda C, x: C.lib.trace(x), normal(4, 3))
case("diff", lambda C, x: x.diff(), normal(3, 4))
case("diff_n2_dim0", lambda C, x: C.lib.diff(x, n=2, dim=0), normal(4, 3))
case("diff_prepend_append", lambda C, x, p, a: x.diff(dim=1, prepend=p, append=a), normal(3, 4), normal(3, 1), normal(3, 2))
case("cross", lambda C, a, b: C.lib.cross(a, b, dim=1), normal(4, 3), normal(4, 3))
case("cross_method_dim0", lambda C, a, b: a.cross(b, dim=0), normal(3, 2), normal(3, 2))
case("linalg_cross", lambda C, a, b: C.lib.linalg.cross(a, b), normal(2, 3), normal(2, 3))

# ----------------------------------------------------------------------------------------------------------
# indexing: index_select, masked_select, argwhere, scatter, scatter_add, index_add, take_along_dim
# ----------------------------------------------------------------------------------------------------------
case("index_select", lambda C, x: x.index_select(1, C.t([2, 0, 2])), normal(3, 4))
case("index_select_module_dim0", lambda C, x: C.lib.index_select(x, 0, C.t([1, 1])), normal(3, 4))
case("index_select_3d", lambda C, x: x.index_select(-1, C.t([3])), normal(2, 3, 4))
case("masked_select", lambda C, x: x.masked_select(x > 0), normal(3, 4))
case("masked_select_bcast", lambda C, x, m: C.lib.masked_select(x, m), normal(3, 4), mask([True, False, False, True]))
case("argwhere", lambda C, x: C.lib.argwhere(x > 0), normal(3, 4))
case("scatter_value", lambda C, x: x.scatter(1, C.t([[0], [3], [1]]), 0.5), normal(3, 4))
case("scatter_src", lambda C, x, s: x.scatter(0, C.t([[2, 1, 0, 0]]), s), normal(3, 4), normal(1, 4))
case("scatter_module_kw", lambda C, x, s: C.lib.scatter(x, 1, C.t([[1, 0], [2, 3]]), src=s), normal(2, 4), normal(2, 2))
case("scatter_add", lambda C, x, s: x.scatter_add(1, C.t([[0, 0], [1, 3], [2, 2]]), s), normal(3, 4), normal(3, 2))
case("scatter_add_module", lambda C, x, s: C.lib.scatter_add(x, 0, C.t([[0, 1, 0], [0, 0, 0]]), s), normal(2, 3), normal(2, 3))
case("index_add", lambda C, x, s: x.index_add(0, C.t([0, 2, 0]), s), normal(3, 4), normal(3, 4))
case("index_add_alpha_dim1", lambda C, x, s: C.lib.index_add(x, 1, C.t([3, 1]), s, alpha=2.5), normal(3, 4), normal(3, 2))
case("take_along_dim", lambda C, x: x.take_along_dim(C.t([[0], [2], [1]]), 1), normal(3, 4))
case("take_along_dim_flat", lambda C, x: C.lib.take_along_dim(x, C.t([5, 0, 11])), normal(3, 4))
case("take_along_dim_bcast", lambda C, x: C.lib.take_along_dim(x, C.t([[[0, 1]]]), dim=2), normal(2, 3, 4))
case("take_along_dim_argsort", lambda C, x: x.take_along_dim(x.argsort(1), 1), normal(3, 4))

# ----------------------------------------------------------------------------------------------------------
# einsum
# ----------------------------------------------------------------------------------------------------------
EINSUM = {"matmul": ("ij,jk->ik", [(3, 4), (4, 2)]), "batched": ("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)]),
          "dot": ("i,i->", [(4,), (4,)]), "outer": ("i,j->ij", [(3,), (4,)]), "transpose": ("ij->ji", [(3, 4)]),
          "sum_rows": ("ij->j", [(3, 4)]), "sum_all": ("ij->", [(3, 4)]), "implicit": ("ij,jk", [(3, 4), (4, 2)]),
          "bilinear": ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)]), "ellipsis": ("...ij,...jk->...ik", [(2, 3, 4), (4, 2)]),
          "ellipsis_bcast": ("...j,...j->...", [(3, 4), (1, 4)]), "attention": ("bhqd,bhkd->bhqk", [(2, 2, 3, 4), (2, 2, 5, 4)]),
          "spaces": ("i j , j k -> i k", [(2, 3), (3, 2)]), "summed_alone": ("ij,k->ik", [(3, 4), (2,)])}
for n, (eq, shapes) in EINSUM.items():
    case(f"einsum_{n}", lambda C, *xs, eq=eq: C.lib.einsum(eq, *xs), *[normal(*s) for s in shapes])
case("einsum_list_operands", lambda C, a, b: C.lib.einsum("ij,jk->ik", [a, b]), normal(3, 4), normal(4, 2))
case("einsum_trace_forward", lambda C, a: C.lib.einsum("ii->i", a.detach()), normal(3, 3))

# ----------------------------------------------------------------------------------------------------------
# torch.add/sub/mul/div/pow/neg as functions, and out=
# ----------------------------------------------------------------------------------------------------------
case("fn_add_alpha", lambda C, a, b: C.lib.add(a, b, alpha=2), normal(3, 4), normal(4))
case("fn_sub_scalar", lambda C, a: C.lib.sub(a, 1.5), normal(3, 4))
case("fn_mul", lambda C, a, b: C.lib.mul(a, b), normal(3, 4), normal(3, 1))
case("fn_div", lambda C, a, b: C.lib.div(a, b), normal(3, 4), nonzero(3, 4))
case("fn_div_floor", lambda C, a, b: C.lib.div(a, b, rounding_mode="floor"), normal(3, 4), nonzero(3, 4))
case("fn_div_trunc_int", lambda C, a, b: C.lib.div(a, b, rounding_mode="trunc"), integers([7, -7, 3]), integers([2, 2, -2]))
case("fn_pow", lambda C, a: C.lib.pow(a, 3), normal(3, 4))
case("fn_neg", lambda C, a: C.lib.neg(a), normal(3, 4))

# ----------------------------------------------------------------------------------------------------------
# round(decimals=), std_mean/var_mean, einsum's sublist form, the in-place scatter family
# ----------------------------------------------------------------------------------------------------------
case("round_decimals", lambda C, x: (x * 10).round(decimals=2), normal(3, 4))
case("round_decimals_neg", lambda C, x: C.lib.round(x * 1000, decimals=-2), normal(3, 4))
case("std_mean", lambda C, x: C.lib.std_mean(x, dim=1), normal(3, 4))
case("var_mean_keepdim", lambda C, x: C.lib.var_mean(x, 0, keepdim=True), normal(3, 4))
case("einsum_sublist", lambda C, a, b: C.lib.einsum(a, [0, 1], b, [1, 2], [0, 2]), normal(3, 4), normal(4, 2))
case("einsum_sublist_ellipsis", lambda C, a, b: C.lib.einsum(a, [Ellipsis, 0, 1], b, [Ellipsis, 1, 2], [Ellipsis, 0, 2]),
     normal(2, 3, 4), normal(2, 4, 5))
case("scatter_inplace", lambda C, x, s: (x * 1).scatter_(1, C.t([[0], [2], [1]]), s), normal(3, 4), normal(3, 1))
case("scatter_add_inplace", lambda C, x, s: (x * 1).scatter_add_(0, C.t([[0, 1, 0, 2]]), s), normal(3, 4), normal(1, 4))
case("index_add_inplace", lambda C, x, s: (x * 1).index_add_(1, C.t([0, 3]), s, alpha=2), normal(3, 4), normal(3, 2))
case("scatter_inplace_value", lambda C, x: (x * 1).scatter_(0, C.t([[1, 0, 2, 1]]), 3.0), normal(3, 4))

@pytest.mark.parametrize("dtype", FLOAT_DTYPES)
@pytest.mark.parametrize("case", CASES)
def test_op_matches_torch(case, dtype, device):
    run_both(case.fn, case.specs, dtype, device, seed_for(case.name), scale=case.scale)


@pytest.mark.parametrize("name", ["sort", "topk"])
def test_return_type_repr_and_fields_like_torch(name):
    x = np.array(DISTINCT)
    c, t = getattr(cl.tensor(x), name)(*([2] if name == "topk" else [])), getattr(torch.tensor(x), name)(*([2] if name == "topk" else []))
    assert repr(c) == repr(t).replace("torch.", "course_lib.")
    assert type(c).__name__ == type(t).__name__ and c.values is c[0] and c.indices is c[1]


def test_sort_is_stable_like_torch_stable():
    x = np.array([2.0, 1.0, 2.0, 1.0, 3.0, 1.0])
    for desc in (False, True):
        c, t = cl.tensor(x).sort(descending=desc), torch.tensor(x).sort(descending=desc, stable=True)
        assert c.indices.tolist() == t.indices.tolist()


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
def test_sort_integer_dtypes_like_torch(dtype):
    x = np.array([[3, 1, 2, 0], [1, 0, 1, 1]])
    c, t = paired(x, dtype=dtype)
    for desc in (False, True):
        cs, ts = c.sort(descending=desc, stable=True), t.sort(descending=desc, stable=True)
        assert_same_tensor(cs.values, ts.values)
        assert cs.indices.tolist() == ts.indices.tolist()


@pytest.mark.parametrize("call", [lambda L, x: L.topk(x, 5), lambda L, x: L.tril(x[0]), lambda L, x: L.triu(x[0, 0])])
def test_errors_like_torch(call):
    c, t = paired(np.array(DISTINCT))
    with pytest.raises(RuntimeError) as te: call(torch, t)
    with pytest.raises(RuntimeError) as ce: call(cl, c)
    assert str(ce.value) == str(te.value)


SHAPES = st.lists(st.integers(1, 4), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40, deadline=None)
@given(shape=SHAPES, data=st.data())
def test_sort_topk_properties(shape, data):
    "On random shapes: sort's values are sorted and are x gathered at the indices; topk is sort's first k; the gradient is a permutation of g."
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = cl.tensor(np.random.default_rng(len(shape)).standard_normal(shape), requires_grad=True)
    s = x.sort(dim)
    v = s.values.detach().numpy()
    assert np.all(np.diff(v, axis=dim) >= 0)
    np.testing.assert_array_equal(np.take_along_axis(x.detach().numpy(), s.indices.numpy(), dim), v)
    k = data.draw(st.integers(0, shape[dim]))
    top = x.topk(k, dim)
    np.testing.assert_array_equal(top.values.detach().numpy(), np.flip(np.take(v, range(shape[dim] - k, shape[dim]), axis=dim), dim))
    g = np.random.default_rng(0).standard_normal(shape)
    s.values.backward(cl.tensor(g))
    np.testing.assert_allclose(np.sort(x.grad.numpy().ravel()), np.sort(g.ravel()))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 5), m=st.integers(1, 5), k=st.integers(-5, 5))
def test_tril_triu_partition(n, m, k):
    "tril(k) + triu(k+1) is the matrix itself, for every diagonal k, like torch's."
    a = np.random.default_rng(n * 7 + m).standard_normal((n, m))
    x = cl.tensor(a)
    np.testing.assert_array_equal((x.tril(k) + x.triu(k + 1)).numpy(), a)
    np.testing.assert_array_equal(x.tril(k).numpy(), torch.tril(torch.tensor(a), k).numpy())


# ----------------------------------------------------------------------------------------------------------
# out=, rounding_mode, and the errors that go with them
# ----------------------------------------------------------------------------------------------------------
OUT_CALLS = {
    "add": lambda L, a, b, out: L.add(a, b, alpha=2, out=out),
    "sub": lambda L, a, b, out: L.sub(a, b, out=out),
    "mul": lambda L, a, b, out: L.mul(a, b, out=out),
    "div": lambda L, a, b, out: L.div(a, b, out=out),
    "div_floor": lambda L, a, b, out: L.div(a, b, rounding_mode="floor", out=out),
    "pow": lambda L, a, b, out: L.pow(a.abs(), b, out=out),
    "neg": lambda L, a, b, out: L.neg(a, out=out),
    "matmul": lambda L, a, b, out: L.matmul(a, b.T, out=out),
}


@pytest.mark.parametrize("name", list(OUT_CALLS))
def test_out_writes_into_the_given_tensor_like_torch(name):
    rng = np.random.default_rng(seed_for(name))
    a, b = rng.standard_normal((3, 3)), rng.uniform(0.5, 2, (3, 3))
    (ca, ta), (cb, tb) = paired(a), paired(b)
    c_out, t_out = cl.zeros(3, 3, dtype=cl.float64), torch.zeros(3, 3, dtype=torch.float64)
    c_res, t_res = OUT_CALLS[name](cl, ca, cb, c_out), OUT_CALLS[name](torch, ta, tb, t_out)
    assert c_res is c_out and t_res is t_out
    assert_same_tensor(c_out, t_out)
    assert c_out._version == t_out._version


def test_out_resizes_with_torchs_warning():
    for L in (cl, torch):
        out = L.zeros(2)
        with pytest.warns(UserWarning, match="An output with one or more elements was resized since it had shape \\[2\\]"):
            L.add(L.ones(3), 1, out=out)
        assert out.shape == (3,) and out.tolist() == [2.0, 2.0, 2.0]
        empty = L.zeros(0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            L.mul(L.ones(2), 3, out=empty)        # an empty out is resized silently
        assert empty.tolist() == [3.0, 3.0]


@pytest.mark.parametrize("call", [lambda L: L.add(L.ones(3, requires_grad=True), 1, out=L.zeros(3)),
                                  lambda L: L.add(L.ones(3), 1.5, out=L.zeros(3, dtype=L.int64)),
                                  lambda L: L.div(L.tensor([7, -7]), 2, rounding_mode="bad")])
def test_out_and_rounding_errors_like_torch(call):
    with pytest.raises(RuntimeError) as te: call(torch)
    with pytest.raises(RuntimeError) as ce: call(cl)
    assert str(ce.value) == str(te.value)


def test_out_inside_no_grad_is_allowed_like_torch():
    for L in (cl, torch):
        w = L.ones(3, requires_grad=True)
        out = L.zeros(3)
        with L.no_grad(): L.mul(w, 2, out=out)
        assert out.tolist() == [2.0, 2.0, 2.0] and not out.requires_grad


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_rounding_integers_exact_like_torch(mode):
    a, b = np.array([7, -7, 7, -7, 0, 9, -9]), np.array([2, 2, -2, -2, 3, 3, 4])
    c, t = cl.div(cl.tensor(a), cl.tensor(b), rounding_mode=mode), torch.div(torch.tensor(a), torch.tensor(b), rounding_mode=mode)
    assert_same_tensor(c, t)
    assert_same_tensor(cl.tensor(a).div(3, rounding_mode=mode), torch.tensor(a).div(3, rounding_mode=mode))
    x = cl.tensor([3.5, -3.5], requires_grad=True)
    y = x.div(2, rounding_mode=mode)
    y.sum().backward()
    assert y.grad_fn.name() == "DivBackward2" and x.grad.tolist() == [0.0, 0.0]



def test_scatter_inplace_on_a_leaf_is_refused_like_torch():
    for L in (torch, cl):
        w = L.zeros(2, 3, requires_grad=True)
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an in-place operation"):
            w.scatter_(1, L.tensor([[0], [1]]), 1.0)
        with L.no_grad(): w.scatter_(1, L.tensor([[0], [1]]), 1.0)
        assert w.tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]] and w._version == 1


def test_constants_and_small_functions_like_torch():
    for n in ("pi", "e", "inf"): assert getattr(cl, n) == getattr(torch, n)
    assert math.isnan(cl.nan) and math.isnan(torch.nan)
    x, xt = cl.ones(2, 3), torch.ones(2, 3)
    assert cl.numel(x) == torch.numel(xt) and cl.is_tensor(x) and not cl.is_tensor([1]) and not torch.is_tensor([1])
    assert cl.is_floating_point(x) == torch.is_floating_point(xt) and cl.is_floating_point(cl.tensor([1])) is False
    assert repr(cl.broadcast_shapes((2,), (3, 1))) == repr(torch.broadcast_shapes((2,), (3, 1))).replace("torch.", "course_lib.")


# ----------------------------------------------------------------------------------------------------------
# gradcheck (finite differences, float64) for every new op with a gradient, and hypothesis over shapes vs torch
# ----------------------------------------------------------------------------------------------------------
GRADCHECK = {
    "prod": (lambda x: x.prod(1), (3, 4)), "prod_all": (lambda x: x.prod(), (2, 3)), "cumsum": (lambda x: x.cumsum(0), (3, 4)),
    "cumprod": (lambda x: x.cumprod(1), (3, 4)), "norm": (lambda x: x.norm(dim=1), (3, 4)), "norm_p3": (lambda x: x.norm(3), (3, 4)),
    "vector_norm_1": (lambda x: cl.linalg.vector_norm(x, 1, dim=0), (3, 4)), "erf": (lambda x: x.erf(), (3, 4)),
    "atan2": (lambda x: cl.atan2(x, x.flip(0) + 3), (3, 4)), "sort": (lambda x: x.sort(1).values, (3, 4)),
    "topk": (lambda x: x.topk(2).values, (3, 4)), "kthvalue": (lambda x: x.kthvalue(2, 0).values, (3, 4)),
    "median": (lambda x: x.median(1).values, (3, 5)), "tril": (lambda x: x.tril(), (3, 4)), "triu": (lambda x: x.triu(1), (3, 4)),
    "flip": (lambda x: x.flip(0, 1) if False else x.flip((0, 1)), (3, 4)), "roll": (lambda x: x.roll((1, -1), (0, 1)), (3, 4)),
    "repeat": (lambda x: x.repeat(2, 1, 2), (3, 4)), "tile": (lambda x: x.tile((2,)), (3, 4)),
    "repeat_interleave": (lambda x: x.repeat_interleave(cl.tensor([2, 0, 1]), dim=0), (3, 4)),
    "movedim": (lambda x: x.movedim(0, 1) * 1, (3, 4)), "diagonal": (lambda x: x.diagonal(1) * 1, (3, 4)),
    "diag": (lambda x: x[0].diag(1), (3, 4)), "trace": (lambda x: x.trace(), (3, 4)), "diff": (lambda x: x.diff(2, 0), (4, 3)),
    "cross": (lambda x: cl.cross(x, x * x, dim=1), (4, 3)), "index_select": (lambda x: x.index_select(1, cl.tensor([3, 3, 0])), (3, 4)),
    "masked_select": (lambda x: x.masked_select(cl.tensor([True, False, True, True])), (3, 4)),
    "scatter": (lambda x: x.scatter(1, cl.tensor([[0], [2], [1]]), x[:, :1] * 2), (3, 4)),
    "scatter_add": (lambda x: x.scatter_add(0, cl.tensor([[0, 1, 0, 2]]), x[:1] * 3), (3, 4)),
    "index_add": (lambda x: x.index_add(1, cl.tensor([0, 0]), x[:, 1:3], alpha=2), (3, 4)),
    "take_along_dim": (lambda x: x.take_along_dim(cl.tensor([[1], [0], [3]]), 1), (3, 4)),
    "einsum": (lambda x: cl.einsum("ij,kj->ik", x, x * 2), (3, 4)), "einsum_ellipsis": (lambda x: cl.einsum("...j->...", x), (3, 4)),
    "nan_to_num": (lambda x: x.nan_to_num(), (3, 4)), "hstack": (lambda x: cl.hstack([x, x * 2]), (3, 4)),
    "meshgrid": (lambda x: cl.meshgrid(x[0], x[1], indexing="ij")[1], (3, 4)),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    f, shape = GRADCHECK[name]
    x = cl.tensor(np.random.default_rng(seed_for(name)).uniform(0.5, 2.0, shape), dtype=cl.float64, requires_grad=True)
    assert cl.gradcheck(f, (x,))


SHAPES_2_4 = st.lists(st.integers(1, 4), min_size=2, max_size=4).map(tuple)


def _pair(shape, seed):
    a = np.random.default_rng(seed).standard_normal(shape)
    return cl.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


SHAPE_PROPS = {
    "flip": lambda L, x, d: x.flip((d,)) * x.flip(tuple(range(x.ndim))),
    "roll": lambda L, x, d: x.roll(2, d),
    "repeat": lambda L, x, d: x.repeat(*([1] * x.ndim)[:-1], 2),
    "tile": lambda L, x, d: x.tile((2,)),
    "movedim": lambda L, x, d: x.movedim(d, 0),
    "swapaxes": lambda L, x, d: x.swapaxes(d, -1),
    "diagonal": lambda L, x, d: x.diagonal(0, d, (d + 1) % x.ndim),
    "cumsum": lambda L, x, d: x.cumsum(d),
    "cumprod": lambda L, x, d: x.cumprod(d),
    "prod_dim": lambda L, x, d: x.prod(d),
    "norm_dim": lambda L, x, d: x.norm(dim=d),
    "diff": lambda L, x, d: x.diff(dim=d),
    "index_select": lambda L, x, d: x.index_select(d, L.tensor([0] * 2)),
    "broadcast_to": lambda L, x, d: x.broadcast_to((2,) + tuple(x.shape)),
    "einsum_transpose_sum": lambda L, x, d: L.einsum("i...->...i", x).sum(0),
}


@settings(max_examples=15, deadline=None)
@given(shape=SHAPES_2_4, data=st.data())
@pytest.mark.parametrize("name", list(SHAPE_PROPS))
def test_shape_ops_on_random_shapes_like_torch(name, shape, data):
    d = data.draw(st.integers(0, len(shape) - 1))
    (c, t), f = _pair(shape, len(shape) * 10 + d), SHAPE_PROPS[name]
    co, to = f(cl, c, d), f(torch, t, d)
    assert_same_tensor(co.detach(), to.detach())
    g = np.random.default_rng(1).standard_normal(tuple(to.shape))
    co.backward(cl.tensor(g)); to.backward(torch.tensor(g))
    assert_same_tensor(c.grad, t.grad)
