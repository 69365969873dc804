"""The Tensor object itself, against torch: dtypes and promotion, factories, attributes, conversions, repr,
grad_fn names, manual_seed reproducibility."""
import numpy as np
import pytest
import torch

import course_lib as cl
from conftest import CUDA_MISSING, HAS_CUDA
from helpers import assert_same_tensor, paired, to_numpy


def cl_like(value):
    """A torch object -> the course_lib spelling of its repr."""
    return repr(value).replace("torch.", "course_lib.")


# ----------------------------------------------------------------------------------------------------------
# dtypes
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,itemsize,is_float", [("float32", 4, True), ("float64", 8, True),
                                                    ("int64", 8, False), ("int32", 4, False), ("bool", 1, False)])
def test_dtype_objects(name, itemsize, is_float):
    d, td = getattr(cl, name), getattr(torch, name)
    assert repr(d) == cl_like(td)
    assert d.itemsize == td.itemsize == itemsize
    assert d.is_floating_point == td.is_floating_point == is_float
    assert d == getattr(cl, name) and d != (cl.float64 if name != "float64" else cl.float32)


TENSOR_DATA = {
    "float_list": [1.0, 2.0],
    "int_list": [1, 2, 3],
    "bool_list": [True, False],
    "mixed_int_float": [1, 2.5],
    "nested": [[1, 2], [3, 4]],
    "py_float": 3.5,
    "py_int": 3,
    "py_bool": True,
    "np_float64": np.array([1.5, 2.5]),
    "np_float32": np.array([1.5, 2.5], dtype=np.float32),
    "np_int64": np.array([1, 2], dtype=np.int64),
    "np_int32": np.array([1, 2], dtype=np.int32),
    "np_bool": np.array([True, False]),
    "np_0d_float64": np.array(2.0),
    "np_float64_scalar": np.float64(2.0),
}


@pytest.mark.parametrize("key", list(TENSOR_DATA))
def test_tensor_infers_dtype_like_torch(device, key):
    data = TENSOR_DATA[key]
    c = cl.tensor(data, device=device)
    t = torch.tensor(data, device=device)
    assert_same_tensor(c, t)
    assert c.requires_grad is False and c.grad is None and c.is_leaf and c.grad_fn is None


@pytest.mark.parametrize("data,dtype", [([1.7, -1.7], "int64"), ([1, 2], "float64"), ([1, 2], "float32"),
                                        ([0.0, 2.0], "bool"), ([1.5, 2.5], "float64"),
                                        (np.array([1.5, 2.5]), "float32")])
def test_tensor_explicit_dtype(data, dtype):
    assert_same_tensor(cl.tensor(data, dtype=getattr(cl, dtype)), torch.tensor(data, dtype=getattr(torch, dtype)))


def test_default_float_is_float32():
    assert cl.tensor([1.0]).dtype == cl.float32
    assert cl.zeros(2).dtype == cl.float32
    assert cl.randn(2).dtype == cl.float32
    assert cl.tensor(1).dtype == cl.int64


PROMOTION = {
    "f32_plus_i64": lambda L: L.tensor([1.5, 2.5]) + L.tensor([1, 2]),
    "i64_times_2p5": lambda L: L.tensor([1, 2]) * 2.5,
    "2p5_times_i64": lambda L: 2.5 * L.tensor([1, 2]),
    "f32_plus_pyfloat": lambda L: L.tensor([1.5, 2.5]) + 1.25,
    "f32_times_pyint": lambda L: L.tensor([1.5, 2.5]) * 2,
    "i64_plus_pyint": lambda L: L.tensor([1, 2]) + 2,
    "i64_div_i64": lambda L: L.tensor([1, 3]) / L.tensor([2, 2]),
    "i64_div_pyint": lambda L: L.tensor([1, 3]) / 2,
    "pyint_div_i64": lambda L: 3 / L.tensor([1, 2]),
    "f64_plus_f32": lambda L: L.tensor([1.5], dtype=L.float64) + L.tensor([2.5]),
    "f32_times_f64": lambda L: L.tensor([1.5]) * L.tensor([2.5], dtype=L.float64),
    "i32_plus_i64": lambda L: L.tensor([1], dtype=L.int32) + L.tensor([2]),
    "i32_plus_f32": lambda L: L.tensor([1], dtype=L.int32) + L.tensor([2.5]),
    "i64_pow_2": lambda L: L.tensor([2, 3]) ** 2,
    "pyint_pow_i64": lambda L: 2 ** L.tensor([2, 3]),
    "pyfloat_pow_i64": lambda L: 2.0 ** L.tensor([2, 3]),
    "i64_pow_half": lambda L: L.tensor([4, 9]) ** 0.5,
    "neg_i64": lambda L: -L.tensor([2, 3]),
    "bool_plus_i64": lambda L: L.tensor([True, False]) + L.tensor([2, 3]),
    "bool_times_f32": lambda L: L.tensor([True, False]) * L.tensor([2.5, 3.5]),
    "i64_lt_float": lambda L: L.tensor([1, 3]) < 2.5,
    "f32_eq_i64": lambda L: L.tensor([1.0, 3.0]) == L.tensor([1, 2]),
    "i64_sum": lambda L: L.tensor([[1, 2], [3, 4]]).sum(),
    "i64_sum_dim": lambda L: L.tensor([[1, 2], [3, 4]]).sum(0),
    "i64_max": lambda L: L.tensor([[1, 2], [3, 4]]).max(),
    "i64_matmul": lambda L: L.tensor([[1, 2], [3, 4]]) @ L.tensor([1, 1]),
    "i64_exp": lambda L: L.tensor([0, 1]).exp(),
    "i64_sqrt": lambda L: L.tensor([4, 9]).sqrt(),
    "i64_float_mean": lambda L: L.tensor([1, 2]).float().mean(),
    "bool_sum": lambda L: L.tensor([True, True, False]).sum(),
    "maximum_i64_f32": lambda L: L.maximum(L.tensor([1, 5]), L.tensor([2.5, 3.5])),
    "where_mixed": lambda L: L.where(L.tensor([True, False]), L.tensor([1, 2]), L.tensor([1.5, 2.5])),
    "f32_times_np_float64": lambda L: L.tensor([1.5, 2.5]) * np.float64(2.0),
    "np_float64_times_f32": lambda L: np.float64(2.0) * L.tensor([1.5, 2.5]),
    "f32_plus_np_float32": lambda L: L.tensor([1.5, 2.5]) + np.float32(2.0),
    "f32_plus_np_int64": lambda L: L.tensor([1.5, 2.5]) + np.int64(2),
    "np_int64_minus_f32": lambda L: np.int64(3) - L.tensor([1.5, 2.5]),
    "i64_times_np_float64": lambda L: L.tensor([1, 2]) * np.float64(0.5),
    "cat_same_dtype_f64": lambda L: L.cat([L.tensor([1.0], dtype=L.float64), L.tensor([2.0], dtype=L.float64)]),
}


@pytest.mark.parametrize("case", list(PROMOTION))
def test_dtype_promotion_like_torch(case):
    assert_same_tensor(PROMOTION[case](cl), PROMOTION[case](torch))


# ----------------------------------------------------------------------------------------------------------
# factories
# ----------------------------------------------------------------------------------------------------------
FACTORIES = {
    "zeros_varargs": lambda L: L.zeros(2, 3),
    "zeros_tuple": lambda L: L.zeros((2, 3)),
    "zeros_list": lambda L: L.zeros([2, 3]),
    "zeros_1d": lambda L: L.zeros(4),
    "zeros_0d": lambda L: L.zeros(()),
    "zeros_f64": lambda L: L.zeros(2, 3, dtype=L.float64),
    "zeros_int": lambda L: L.zeros(2, dtype=L.int64),
    "ones": lambda L: L.ones(3, 2),
    "ones_tuple_f64": lambda L: L.ones((2, 2), dtype=L.float64),
    "ones_bool": lambda L: L.ones(2, dtype=L.bool),
    "full_float": lambda L: L.full((2, 3), 1.5),
    "full_int_fill": lambda L: L.full((2,), 3),
    "full_bool_fill": lambda L: L.full((2,), True),
    "full_dtype": lambda L: L.full((2, 2), 2.0, dtype=L.float64),
    "full_list_size": lambda L: L.full([3], -1.0),
    "arange_end": lambda L: L.arange(5),
    "arange_start_end": lambda L: L.arange(2, 8),
    "arange_step": lambda L: L.arange(10, 0, -3),
    "arange_float_step": lambda L: L.arange(0, 1, 0.25),
    "arange_float_bounds": lambda L: L.arange(1.0, 4.0),
    "arange_dtype": lambda L: L.arange(5, dtype=L.float32),
    "arange_kw": lambda L: L.arange(start=1, end=7, step=2),
    "eye": lambda L: L.eye(3),
    "eye_rect": lambda L: L.eye(2, 3),
    "linspace": lambda L: L.linspace(0, 1, 5),
    "linspace_f64": lambda L: L.linspace(-1.0, 1.0, 7, dtype=L.float64),
    "zeros_like": lambda L: L.zeros_like(L.tensor([[1.5, 2.5]])),
    "zeros_like_int": lambda L: L.zeros_like(L.tensor([1, 2])),
    "zeros_like_dtype": lambda L: L.zeros_like(L.tensor([1, 2]), dtype=L.float64),
    "ones_like": lambda L: L.ones_like(L.tensor([[1.5], [2.5]], dtype=L.float64)),
    "ones_like_int": lambda L: L.ones_like(L.tensor([1, 2])),
    "full_like": lambda L: L.full_like(L.tensor([1.0, 2.0]), 7.0),
}


@pytest.mark.parametrize("case", list(FACTORIES))
def test_factories_like_torch(case):
    assert_same_tensor(FACTORIES[case](cl), FACTORIES[case](torch))


@pytest.mark.parametrize("factory", ["zeros", "ones", "rand", "randn", "empty"])
def test_factory_keywords(device, factory):
    f = getattr(cl, factory)
    t = f(2, 3, dtype=cl.float64, device=device, requires_grad=True)
    assert t.shape == (2, 3) and t.dtype == cl.float64 and t.device.type == device
    assert t.requires_grad and t.is_leaf and t.grad_fn is None
    t2 = f((4,), device=device)
    assert t2.shape == (4,) and t2.dtype == cl.float32 and not t2.requires_grad


@pytest.mark.parametrize("factory", ["full", "arange", "tensor", "zeros_like", "ones_like", "rand_like",
                                     "randn_like", "full_like", "eye", "linspace"])
def test_factory_device_and_requires_grad(device, factory):
    base = cl.tensor([1.0, 2.0], device=device)
    call = {"full": lambda: cl.full((2,), 1.0, device=device, requires_grad=True),
            "arange": lambda: cl.arange(0.0, 3.0, device=device, requires_grad=True),
            "tensor": lambda: cl.tensor([1.0], device=device, requires_grad=True),
            "zeros_like": lambda: cl.zeros_like(base, requires_grad=True),
            "ones_like": lambda: cl.ones_like(base, requires_grad=True),
            "rand_like": lambda: cl.rand_like(base, requires_grad=True),
            "randn_like": lambda: cl.randn_like(base, requires_grad=True),
            "full_like": lambda: cl.full_like(base, 2.0, requires_grad=True),
            "eye": lambda: cl.eye(2, device=device, requires_grad=True),
            "linspace": lambda: cl.linspace(0, 1, 3, device=device, requires_grad=True)}[factory]
    t = call()
    assert t.device.type == device and t.requires_grad and t.is_leaf and t.dtype == cl.float32


def test_rand_randn_shapes_ranges_stats():
    cl.manual_seed(0)
    r = to_numpy(cl.rand(20000))
    assert r.dtype == np.float32 and r.min() >= 0.0 and r.max() < 1.0 and abs(r.mean() - 0.5) < 0.01
    n = to_numpy(cl.randn(20000, dtype=cl.float64))
    assert n.dtype == np.float64 and abs(n.mean()) < 0.03 and abs(n.std() - 1.0) < 0.03
    assert cl.rand(2, 3).shape == (2, 3) and cl.randn((3, 1)).shape == (3, 1)
    assert cl.rand_like(cl.zeros(2, 2, dtype=cl.float64)).dtype == cl.float64


def test_manual_seed_reproducible(device):
    def draw():
        return [to_numpy(cl.randn(3, 4, device=device)), to_numpy(cl.rand(5, device=device)),
                to_numpy(cl.randn_like(cl.zeros(2, device=device)))]

    cl.manual_seed(0)
    a = draw()
    cl.manual_seed(0)
    b = draw()
    cl.manual_seed(1)
    c = draw()
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    assert not np.array_equal(a[0], to_numpy(cl.randn(3, 4, device=device)))  # the stream moves on


def test_from_numpy_shares_memory():
    a = np.array([1.0, 2.0, 3.0])
    c, t = cl.from_numpy(a), torch.from_numpy(a.copy())
    assert_same_tensor(c, t)
    a[0] = 10.0
    assert to_numpy(c)[0] == 10.0


# ----------------------------------------------------------------------------------------------------------
# attributes
# ----------------------------------------------------------------------------------------------------------
def test_shape_size_ndim_numel_len(device):
    c, t = paired(np.zeros((2, 3, 4)), dtype="float32", device=device)
    assert isinstance(c.shape, tuple) and c.shape == (2, 3, 4) == tuple(t.shape)
    assert c.size() == tuple(t.size()) and c.size(1) == t.size(1) == 3 and c.size(-1) == t.size(-1)
    assert c.size(dim=0) == 2
    assert c.ndim == t.ndim == 3 and c.dim() == t.dim() == 3
    assert c.numel() == t.numel() == 24
    assert len(c) == len(t) == 2
    c0, t0 = paired(np.array(5.0), device=device)
    assert c0.shape == () == tuple(t0.shape) and c0.ndim == 0 and c0.numel() == 1


def test_len_of_0d_raises_like_torch():
    with pytest.raises(TypeError):
        len(torch.tensor(1.0))
    with pytest.raises(TypeError):
        len(cl.tensor(1.0))


def test_device_attribute(device):
    c, t = paired([1.0, 2.0], device=device)
    assert c.device.type == t.device.type == device
    assert str(c.device) == str(t.device)
    assert c.device == str(t.device)  # equality with strings (DESIGN.md)
    assert c.device == cl.device(str(t.device))


def test_device_class():
    for spec in ["cpu", "cuda", "cuda:0", "cuda:1"]:
        d, td = cl.device(spec), torch.device(spec)
        assert d.type == td.type and d.index == td.index and str(d) == str(td)
    assert cl.device("cpu") == "cpu"
    assert cl.device("cuda:0") == "cuda:0"
    assert cl.device("cpu") == cl.device("cpu")
    assert cl.device("cpu") != cl.device("cuda:0")


@pytest.mark.parametrize("data", [2.5, 3, True, [7.0], [[4]], 0.1, -1e-8, 1e20])
def test_item_like_torch(device, data):
    c, t = paired(data, device=device)
    ci, ti = c.item(), t.item()
    assert type(ci) is type(ti) and ci == ti


@pytest.mark.parametrize("data", [[1.0, 2.5], [[1, 2], [3, 4]], 0.1, 7, [[True], [False]], [0.1, 1e-8, 3e20],
                                  np.zeros((2, 0)), np.arange(6.0).reshape(1, 2, 3)])
def test_tolist_like_torch(device, data):
    c, t = paired(data, device=device)
    cl_list, t_list = c.tolist(), t.tolist()
    assert cl_list == t_list
    assert repr(cl_list) == repr(t_list)  # same Python types (float vs int vs bool)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool"])
def test_numpy_like_torch(dtype):
    data = np.array([[1, 0, 3], [4, 5, 0]])
    c, t = paired(data, dtype=dtype)
    a, b = c.numpy(), t.numpy()
    assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("data", [2.5, -3, [1.25], [[7]]])
def test_python_number_conversions(data):
    c, t = paired(data)
    assert float(c) == float(t) and type(float(c)) is float
    assert int(c) == int(t) and type(int(c)) is int
    assert bool(c) == bool(t)
    if c.ndim == 0:
        assert f"{c:.3f}" == f"{t:.3f}"


def test_numpy_after_detach():
    c, t = paired([1.0, 2.0], requires_grad=True)
    np.testing.assert_array_equal(c.detach().numpy(), t.detach().numpy())


def test_T(device):
    c, t = paired(np.arange(6.0).reshape(2, 3), dtype="float32", device=device, requires_grad=True)
    assert_same_tensor(c.T.detach(), t.T.detach())
    (c.T * c.T).sum().backward()
    (t.T * t.T).sum().backward()
    assert_same_tensor(c.grad, t.grad)


def test_iter_like_torch(device):
    c, t = paired(np.arange(6.0).reshape(3, 2), dtype="float32", device=device)
    rows_c, rows_t = list(c), list(t)
    assert len(rows_c) == len(rows_t) == 3
    for rc, rt in zip(rows_c, rows_t):
        assert_same_tensor(rc, rt)


def test_hash_is_identity():
    a, b = cl.tensor([1.0]), cl.tensor([1.0])
    d = {a: "a", b: "b"}
    assert d[a] == "a" and d[b] == "b" and len({a, b, a}) == 2


# ----------------------------------------------------------------------------------------------------------
# conversions
# ----------------------------------------------------------------------------------------------------------
CONVERSIONS = {
    "float": lambda x, L: x.float(),
    "double": lambda x, L: x.double(),
    "long": lambda x, L: x.long(),
    "int": lambda x, L: x.int(),
    "bool": lambda x, L: x.bool(),
    "to_float64": lambda x, L: x.to(L.float64),
    "to_int64": lambda x, L: x.to(L.int64),
    "to_dtype_kw": lambda x, L: x.to(dtype=L.float64),
    "to_cpu": lambda x, L: x.to("cpu"),
    "cpu": lambda x, L: x.cpu(),
}


@pytest.mark.parametrize("conv", list(CONVERSIONS))
@pytest.mark.parametrize("src", ["float32", "int64"])
def test_conversions_like_torch(conv, src):
    data = np.array([[1.7, -2.2, 0.0], [3.5, -0.5, 2.0]])
    if src == "int64":
        data = np.array([[1, -2, 0], [3, 0, 2]])
    c, t = paired(data, dtype=src)
    assert_same_tensor(CONVERSIONS[conv](c, cl), CONVERSIONS[conv](t, torch))


def test_float_conversion_keeps_autograd(device):
    c, t = paired([0.5, -1.5], dtype="float32", device=device, requires_grad=True)
    for x in (c, t):
        (x.double() * x.to(x.dtype) * 3).sum().backward()
    assert_same_tensor(c.grad, t.grad)
    assert c.grad.dtype == cl.float32


def test_clone_copies_and_keeps_graph(device):
    c, t = paired([1.0, 2.0], device=device, requires_grad=True)
    cc, tc = c.clone(), t.clone()
    assert cc.grad_fn is not None and tc.grad_fn is not None
    (cc * cc).sum().backward()
    (tc * tc).sum().backward()
    assert_same_tensor(c.grad, t.grad)
    d = cl.tensor([1.0, 2.0], device=device)
    e = d.clone()
    e.add_(5.0)
    assert to_numpy(d).tolist() == [1.0, 2.0]


def test_data_setter_replaces_storage(device):
    c, t = paired([1.0, 2.0], device=device, requires_grad=True)
    c.data = cl.tensor([5.0, 6.0], device=device)
    t.data = torch.tensor([5.0, 6.0], device=device)
    assert_same_tensor(c.detach(), t.detach())
    assert c.requires_grad and c.is_leaf


@pytest.mark.skipif(not HAS_CUDA, reason=f"cuda: {CUDA_MISSING}")
def test_to_device_round_trip_cuda():
    """.to("cuda"), .cuda(), .cpu() round-trip and keep gradients flowing back to the CPU leaf."""
    c, t = paired([1.0, -2.0, 3.0], device="cpu", requires_grad=True)
    cg, tg = c.to("cuda"), t.to("cuda")
    assert str(cg.device) == str(tg.device) == "cuda:0"
    assert_same_tensor(cg.detach(), tg.detach())
    assert_same_tensor(c.cuda().cpu().detach(), t.cuda().cpu().detach())
    (cg * cg).sum().backward()
    (tg * tg).sum().backward()
    assert_same_tensor(c.grad, t.grad)
    assert c.grad.device.type == "cpu"


# ----------------------------------------------------------------------------------------------------------
# repr
# ----------------------------------------------------------------------------------------------------------
_rng = np.random.default_rng(0)
REPR_DATA = {
    "floats": ([1.0, 2.0], {}),
    "ints": ([1, 2, 3], {}),
    "scalar_float": (32.0, {}),
    "scalar_int": (3, {}),
    "scalar_negative": (-0.5, {}),
    "scalar_f64": (3.14159265358979, {"dtype": "float64"}),
    "cos_values": (np.cos([1.0, 2.0, 3.0]).astype(np.float32), {}),
    "fixed_4dp": ([0.1, 0.25], {}),
    "negatives": ([1.0, 2.5, -3.0], {}),
    "neg_zero": ([0.0, -0.0], {}),
    "scientific": ([1e-5, 1.0, 1e5], {}),
    "scientific_ratio": ([123456.0, 1.0], {}),
    "wide_but_fixed": ([1000.0, 2.0], {}),
    "small": ([0.001, 1.0], {}),
    "tiny": ([1e-10, 1e-12], {}),
    "large": ([1e10], {}),
    "big_ints": ([100000, -2], {}),
    "huge_ints": ([1, 10**12], {}),
    "nan_inf": ([float("nan"), float("inf"), -float("inf"), 1.5], {}),
    "two_d": ([[1.0, 2.0], [3.0, 4.0]], {}),
    "two_d_mixed": ([[1.5, -2.25e-3], [1e3, 7.0]], {}),
    "three_d": (np.arange(24.0).reshape(2, 3, 4), {}),
    "three_d_int": (np.arange(12).reshape(2, 3, 2), {}),
    "randn_2d": (_rng.standard_normal((3, 4)).astype(np.float32), {}),
    "randn_long_line": (_rng.standard_normal(12).astype(np.float32), {}),
    "f64": ([1.0, 2.0], {"dtype": "float64"}),
    "f64_values": (_rng.standard_normal(3), {}),
    "int32": ([1, 2], {"dtype": "int32"}),
    "bool": ([True, False], {}),
    "requires_grad": ([1.0, 2.0], {"requires_grad": True}),
    "requires_grad_f64": ([1.0, 2.0], {"requires_grad": True, "dtype": "float64"}),
    "requires_grad_2d": ([[1.0, 2.0], [3.0, 4.0]], {"requires_grad": True}),
    "summarized_float": (np.arange(2000.0, dtype=np.float32), {}),
    "summarized_int": (np.arange(2000), {}),
    "summarized_2d": (np.arange(1200.0, dtype=np.float32).reshape(30, 40) / 7, {}),
    "empty": ([], {}),
    "empty_2d": (np.zeros((0, 3), dtype=np.float32), {}),
    "one_element": ([5.0], {}),
}


@pytest.mark.parametrize("key", list(REPR_DATA))
def test_repr_like_torch(key):
    data, kw = REPR_DATA[key]
    c_kw = {k: (getattr(cl, v) if k == "dtype" else v) for k, v in kw.items()}
    t_kw = {k: (getattr(torch, v) if k == "dtype" else v) for k, v in kw.items()}
    c, t = cl.tensor(data, **c_kw), torch.tensor(data, **t_kw)
    assert repr(c) == cl_like(t)
    assert str(c) == str(t).replace("torch.", "course_lib.")


def test_repr_on_device(device):
    c, t = paired([1.0, 2.0], device=device)
    assert repr(c) == cl_like(t)


GRAD_FN_OPS = {
    "AddBackward0": lambda x, y: x + y,
    "SubBackward0": lambda x, y: x - y,
    "MulBackward0": lambda x, y: x * y,
    "DivBackward0": lambda x, y: x / y,
    "NegBackward0": lambda x, y: -x,
    "ExpBackward0": lambda x, y: x.exp(),
    "LogBackward0": lambda x, y: x.log(),
    "SinBackward0": lambda x, y: x.sin(),
    "CosBackward0": lambda x, y: x.cos(),
    "TanhBackward0": lambda x, y: x.tanh(),
    "SigmoidBackward0": lambda x, y: x.sigmoid(),
    "ReluBackward0": lambda x, y: x.relu(),
    "SqrtBackward0": lambda x, y: x.sqrt(),
    "AbsBackward0": lambda x, y: x.abs(),
    "SumBackward0": lambda x, y: x.sum(),
    "MeanBackward0": lambda x, y: x.mean(),
    "PowBackward0": lambda x, y: x ** 2,
}


@pytest.mark.parametrize("name", list(GRAD_FN_OPS))
def test_grad_fn_names_like_torch(name):
    f = GRAD_FN_OPS[name]
    cx, tx = paired([1.0, 4.0], requires_grad=True)
    cy, ty = paired([2.0, 0.5], requires_grad=True)
    c_out, t_out = f(cx, cy), f(tx, ty)
    assert t_out.grad_fn.name() == name  # the test's own premise
    assert repr(c_out) == cl_like(t_out)
    assert name in repr(c_out.grad_fn)


def test_repr_of_grad_is_plain(device):
    c, t = paired([1.0, 2.0], device=device, requires_grad=True)
    (c * 3).sum().backward()
    (t * 3).sum().backward()
    assert repr(c.grad) == cl_like(t.grad)


@pytest.mark.parametrize("alias", ["float", "double", "half", "long", "int", "short", "bool",
                                   "float16", "float32", "float64", "uint8", "int8", "int16", "int32", "int64"])
def test_dtype_aliases_are_torchs(alias):
    "`torch.float`, `torch.long`, ... name the same dtypes in course_lib (tutorials write `dtype=torch.float`)."
    theirs, ours = getattr(torch, alias), getattr(cl, alias)
    assert ours.name == str(theirs).removeprefix("torch."), (alias, ours, theirs)
    assert cl.zeros(2, dtype=ours).dtype is ours
    assert ours.itemsize == theirs.itemsize and ours.is_floating_point == theirs.is_floating_point


@pytest.mark.parametrize("src_dtype", ["float64", "int64", "float32"])
@pytest.mark.parametrize("call", [("new_zeros", (2, 3), {}), ("new_ones", ((2,),), {}), ("new_empty", (3,), {}),
                                  ("new_full", ((2, 2), 7), {}), ("new_tensor", ([1, 2],), {}),
                                  ("new_ones", (2,), {"dtype": "float32"}), ("new_full", ((2,), 1.5), {"dtype": "float64"})],
                         ids=lambda c: f"{c[0]}{c[1]}{c[2]}")
def test_new_methods_like_torch(call, src_dtype):
    "`t.new_ones(...)` and friends: this tensor's dtype unless another is given, values as torch's."
    name, args, kw = call
    ours = getattr(cl.zeros(1, dtype=getattr(cl, src_dtype)), name)(*args, **{k: getattr(cl, v) for k, v in kw.items()})
    theirs = getattr(torch.zeros(1, dtype=getattr(torch, src_dtype)), name)(*args, **{k: getattr(torch, v) for k, v in kw.items()})
    assert ours.dtype.name == str(theirs.dtype).removeprefix("torch.") and tuple(ours.shape) == tuple(theirs.shape)
    if name != "new_empty": assert ours.tolist() == theirs.tolist()


def test_generator_streams_are_repeatable_and_independent_like_torch():
    # torch's contract: manual_seed returns the generator; the same seed gives the same draws; a private
    # generator leaves the default stream alone.
    for lib in (torch, cl):
        g = lib.Generator().manual_seed(7)
        assert isinstance(g, lib.Generator) and g.initial_seed() == 7
        lib.manual_seed(3); ref = lib.randn(4)
        lib.manual_seed(3)
        first = [lib.rand(2, generator=g), lib.randn(2, generator=g), lib.randint(0, 9, (3,), generator=g),
                 lib.randperm(5, generator=g)]
        assert lib.randn(4).tolist() == ref.tolist(), f"{lib.__name__}: a generator= draw moved the default stream"
        g.manual_seed(7)
        again = [lib.rand(2, generator=g), lib.randn(2, generator=g), lib.randint(0, 9, (3,), generator=g),
                 lib.randperm(5, generator=g)]
        assert all(a.tolist() == b.tolist() for a, b in zip(first, again))
        assert lib.manual_seed(1).initial_seed() == 1 == lib.initial_seed()
    assert cl.randint(0, 9, (3,), generator=cl.Generator().manual_seed(0)).dtype is cl.int64


# ----------------------------------------------------------------------------------------------------------
# Size: torch.Size's behaviour, reprs compared after torch. -> course_lib.
# ----------------------------------------------------------------------------------------------------------
SIZE_EXPRS = {
    "shape": lambda L: L.zeros(2, 3).shape,
    "size()": lambda L: L.zeros(2, 3).size(),
    "size_0d": lambda L: L.tensor(1.0).shape,
    "size_dim": lambda L: L.zeros(2, 3).size(1),
    "size_neg_dim": lambda L: L.zeros(2, 3).size(-1),
    "slice": lambda L: L.zeros(2, 3, 4).shape[1:],
    "index": lambda L: L.zeros(2, 3, 4).shape[-1],
    "plus_tuple": lambda L: L.zeros(2, 3).shape + (4,),
    "tuple_plus": lambda L: (1,) + L.zeros(2, 3).shape,
    "plus_size": lambda L: L.zeros(2).shape + L.zeros(3, 1).shape,
    "times": lambda L: L.zeros(2).shape * 2,
    "rtimes": lambda L: 2 * L.zeros(2).shape,
    "numel": lambda L: L.zeros(2, 3).shape.numel(),
    "numel_0d": lambda L: L.Size([]).numel(),
    "eq_tuple": lambda L: L.zeros(2, 3).shape == (2, 3),
    "ne_list": lambda L: L.zeros(2, 3).shape == [2, 3],
    "constructed": lambda L: L.Size([2, 3]),
    "from_int_tensor": lambda L: L.Size([L.tensor(3), 4]),
    "empty": lambda L: L.Size(),
    "in_tuple": lambda L: (L.zeros(1).shape, L.zeros(2, 2).size()),
    "str": lambda L: str(L.zeros(2, 1).shape),
    "unpack": lambda L: [n for n in L.zeros(4, 5).shape],
    "count": lambda L: L.Size([2, 2, 3]).count(2),
    "hash_like_tuple": lambda L: hash(L.Size([2, 3])) == hash((2, 3)),
}


@pytest.mark.parametrize("case", list(SIZE_EXPRS))
def test_size_like_torch(case):
    c, t = SIZE_EXPRS[case](cl), SIZE_EXPRS[case](torch)
    assert cl_like(t) == repr(c)
    assert type(c).__name__ == type(t).__name__


@pytest.mark.parametrize("bad", [lambda L: L.Size([2.0]), lambda L: L.Size(["a", 1]), lambda L: L.zeros(2).shape + [1]])
def test_size_errors_like_torch(bad):
    with pytest.raises(TypeError) as te: bad(torch)
    with pytest.raises(TypeError) as ce: bad(cl)
    assert str(ce.value) == str(te.value).replace("torch.", "course_lib.")


def test_size_pickles_and_is_a_tuple():
    import pickle
    s = cl.zeros(2, 3).shape
    assert isinstance(s, tuple) and isinstance(s, cl.Size)
    assert pickle.loads(pickle.dumps(s)) == s and type(pickle.loads(pickle.dumps(s))) is cl.Size
    assert np.zeros(s).shape == (2, 3)


# ----------------------------------------------------------------------------------------------------------
# finfo / iinfo, attributes and reprs
# ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_finfo_like_torch(name):
    c, t = cl.finfo(getattr(cl, name)), torch.finfo(getattr(torch, name))
    assert repr(c) == repr(t) and str(c) == str(t)
    for a in ("bits", "dtype", "eps", "max", "min", "resolution", "smallest_normal", "tiny"):
        assert getattr(c, a) == getattr(t, a) and type(getattr(c, a)) is type(getattr(t, a)), a


def test_finfo_default_follows_default_dtype():
    assert repr(cl.finfo()) == repr(torch.finfo())
    cl.set_default_dtype(cl.float64); torch.set_default_dtype(torch.float64)
    try: assert repr(cl.finfo()) == repr(torch.finfo()) and cl.finfo().dtype == "float64"
    finally: cl.set_default_dtype(cl.float32); torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_like_torch(name):
    c, t = cl.iinfo(getattr(cl, name)), torch.iinfo(getattr(torch, name))
    assert repr(c) == repr(t)
    for a in ("bits", "dtype", "max", "min"):
        assert getattr(c, a) == getattr(t, a) and type(getattr(c, a)) is type(getattr(t, a)), a


@pytest.mark.parametrize("call", [lambda L: L.finfo(L.int32), lambda L: L.iinfo(L.float32), lambda L: L.iinfo(L.bool)])
def test_finfo_iinfo_errors_like_torch(call):
    with pytest.raises(TypeError) as te: call(torch)
    with pytest.raises(TypeError) as ce: call(cl)
    assert str(ce.value) == str(te.value).replace("torch.", "course_lib.")


@pytest.mark.parametrize("name", ["float16", "float32", "float64", "int64", "int32", "int16", "int8", "uint8", "bool"])
def test_dtype_is_floating_point_and_itemsize(name):
    c, t = getattr(cl, name), getattr(torch, name)
    assert c.is_floating_point == t.is_floating_point and c.itemsize == t.itemsize
    assert cl.zeros(2, dtype=c).element_size() == torch.zeros(2, dtype=t).element_size()


def test_set_default_dtype_changes_factories_like_torch():
    cl.set_default_dtype(cl.float64); torch.set_default_dtype(torch.float64)
    try:
        for f in (lambda L: L.zeros(2), lambda L: L.tensor([1.5]), lambda L: L.linspace(0, 1, 3), lambda L: L.arange(0.5, 2),
                  lambda L: L.full((2,), 1.5), lambda L: L.rand(2).dtype):
            c, t = f(cl), f(torch)
            assert cl_like(t.dtype if isinstance(t, torch.Tensor) else t) == repr(c.dtype if isinstance(c, cl.Tensor) else c)
        assert cl.get_default_dtype() is cl.float64
    finally: cl.set_default_dtype(cl.float32); torch.set_default_dtype(torch.float32)
    with pytest.raises(TypeError): cl.set_default_dtype(cl.int64)
    with pytest.raises(TypeError): torch.set_default_dtype(torch.int64)


# ----------------------------------------------------------------------------------------------------------
# the factories issue 15 adds: size= keywords, logspace, randint_like, as_tensor, set_default_device
# ----------------------------------------------------------------------------------------------------------
MORE_FACTORIES = {
    "zeros_size_kw": lambda L: L.zeros(size=(2, 3)),
    "ones_size_kw_list": lambda L: L.ones(size=[3], dtype=L.float64),
    "empty_size_kw": lambda L: L.empty(size=(2,)).shape,
    "rand_size_kw": lambda L: L.rand(size=(2, 3)).shape,
    "randn_size_kw": lambda L: L.randn(size=[4]).dtype,
    "zeros_from_size": lambda L: L.zeros(L.zeros(2, 3).shape),
    "randint_size_kw": lambda L: L.randint(10, size=(3,)).shape,
    "randint_low_high_kw": lambda L: L.randint(low=2, high=3, size=(4,)),
    "linspace_int": lambda L: L.linspace(0, 10, 5, dtype=L.int64),
    "linspace_one": lambda L: L.linspace(2, 3, 1),
    "linspace_zero": lambda L: L.linspace(2, 3, 0),
    "linspace_tensor_bounds": lambda L: L.linspace(L.tensor(0.0), L.tensor(1.0), 4),
    "logspace": lambda L: L.logspace(0, 2, 3),
    "logspace_base2": lambda L: L.logspace(0, 4, 5, base=2),
    "logspace_f64": lambda L: L.logspace(-1, 1, 4, dtype=L.float64),
    "eye_int": lambda L: L.eye(3, 2, dtype=L.int64),
    "randint_like_high": lambda L: (L.randint_like(L.zeros(3, 2), 1)),
    "randint_like_low_high": lambda L: L.randint_like(L.zeros(4, dtype=L.int32), 5, 6),
    "randint_like_dtype": lambda L: L.randint_like(L.zeros(3), 7, 8, dtype=L.int64),
    "empty_like": lambda L: L.empty_like(L.zeros(2, 3, dtype=L.int32)).shape,
    "rand_like_f64": lambda L: L.rand_like(L.zeros(2, dtype=L.float64)).dtype,
    "randn_like_dtype": lambda L: L.randn_like(L.zeros(2), dtype=L.float64).dtype,
    "as_tensor_list": lambda L: L.as_tensor([1, 2]),
    "as_tensor_float_list": lambda L: L.as_tensor([1.5, 2]),
    "as_tensor_np": lambda L: L.as_tensor(np.arange(3.0)),
    "as_tensor_np_dtype": lambda L: L.as_tensor(np.arange(3), dtype=L.float32),
    "as_tensor_tensor_dtype": lambda L: L.as_tensor(L.tensor([1, 2]), dtype=L.float64),
    "from_numpy_int32": lambda L: L.from_numpy(np.arange(3, dtype=np.int32)),
}


@pytest.mark.parametrize("case", list(MORE_FACTORIES))
def test_more_factories_like_torch(case):
    c, t = MORE_FACTORIES[case](cl), MORE_FACTORIES[case](torch)
    if isinstance(t, torch.Tensor): assert_same_tensor(c, t)
    else: assert repr(c) == cl_like(t)


@pytest.mark.parametrize("call", [lambda L: L.zeros(2, size=(3,)), lambda L: L.ones(2.5), lambda L: L.empty(1, size=[2])])
def test_factory_size_errors_like_torch(call):
    with pytest.raises(TypeError) as te: call(torch)
    with pytest.raises(TypeError) as ce: call(cl)
    assert str(ce.value) == str(te.value)


def test_random_factory_size_errors_are_type_errors():
    # torch words these as a list of its C++ overloads (rand and randn have a generator overload): the type only
    for L in (cl, torch):
        with pytest.raises(TypeError): L.rand(1, size=[2])
        with pytest.raises(TypeError): L.randn(2.5)


@pytest.mark.parametrize("call", [lambda L: L.linspace(0, 1, -1), lambda L: L.logspace(0, 1, -2), lambda L: L.eye(-1)])
def test_factory_value_errors_like_torch(call):
    with pytest.raises(RuntimeError) as te: call(torch)
    with pytest.raises(RuntimeError) as ce: call(cl)
    assert str(ce.value) == str(te.value)


def test_as_tensor_shares_memory_like_torch():
    a = np.arange(3.0)
    for L in (cl, torch):
        x = L.as_tensor(a)
        a[0] = 7.0
        assert x[0].item() == 7.0           # the same memory
        y = L.as_tensor(a, dtype=L.float32)
        a[0] = 8.0
        assert y[0].item() == 7.0           # another dtype: a copy
        t = L.tensor([1.0, 2.0])
        assert L.as_tensor(t) is t and L.as_tensor(t, dtype=L.float32) is t
        assert L.as_tensor(t, dtype=L.float64) is not t
        a[0] = 0.0


def test_randint_like_ranges():
    cl.manual_seed(0)
    r = cl.randint_like(cl.zeros(1000), 3, 6)
    assert r.dtype == cl.float32 and set(r.tolist()) == {3.0, 4.0, 5.0}
    assert set(cl.randint_like(cl.zeros(500, dtype=cl.int64), 2).tolist()) == {0, 1}


def test_set_default_device_like_torch():
    for L in (cl, torch):
        L.set_default_device("cpu")
        try:
            assert L.get_default_device() == L.device("cpu")
            assert L.zeros(2).device == L.device("cpu") and L.tensor([1]).device == L.device("cpu")
        finally: L.set_default_device(None)
        assert L.get_default_device() == L.device("cpu")


@pytest.mark.skipif(not HAS_CUDA, reason=CUDA_MISSING)
def test_set_default_device_cuda():
    cl.set_default_device("cuda")
    try:
        for make in (lambda: cl.zeros(2), lambda: cl.randn(2), lambda: cl.tensor([1.0]), lambda: cl.arange(3),
                     lambda: cl.linspace(0, 1, 3), lambda: cl.eye(2), lambda: cl.full((2,), 1.0)):
            assert make().is_cuda
        assert not cl.zeros(2, device="cpu").is_cuda
    finally: cl.set_default_device(None)
    assert not cl.zeros(2).is_cuda
