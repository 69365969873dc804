"""Devices: the CPU-only device rules, a pretend GPU that runs the CUDA plumbing anywhere, and real CUDA vs torch.

Three groups of tests:

* **No CUDA here** (run everywhere): `cl.cuda.is_available()` is a bool and never raises; asking for "cuda" without
  CuPy, or with CuPy but without a GPU, raises a RuntimeError that names the missing piece and the fix; `.to("cpu")`
  round-trips. CuPy's absence is simulated, so these run on GPU machines too.
* **A pretend GPU** (run everywhere): `fake_gpu` puts a stand-in `cupy` (and `cupyx`) in `sys.modules`. Its arrays
  keep NumPy storage behind a wall, like `cupy.ndarray` keeps device memory: they refuse implicit conversion to NumPy
  (`np.asarray(a)` raises CuPy's TypeError), refuse to be mixed with NumPy arrays in arithmetic (CuPy's "Unsupported
  type"), report `a.device.id`, and come back to the host only through `a.get()`. course_lib's own code is not
  patched at all, so `.to/.cuda/.cpu`, `device=` factories, `Module.to`, optimizer steps and the mixed-device errors
  run through exactly the code path they take on a real GPU, and any `np.` call on device storage that CuPy would
  reject is caught here. Names of these tests avoid the word "c-u-d-a" so that `pytest -k cuda` selects GPU cases only.
* **Real CUDA** (ids contain "cuda"; skipped with the reason printed by `-ra` when CuPy, a GPU or torch's CUDA is
  missing): course_lib on CuPy against torch on CUDA. TF32 is disabled for the reference (conftest does it, and this
  module repeats it) so float32 matmuls are true float32 on both sides.
"""
import builtins
import importlib
import operator
import sys
import types

import numpy as np
import pytest
import torch

import course_lib as cl
import course_lib.cuda  # noqa: F401  (cl.cuda)
T = importlib.import_module("course_lib._device")   # the device module: where CuPy is loaded and seeded
from conftest import CUDA_MISSING, HAS_CUDA

# The reference must be true float32: TF32 matmuls differ from CuPy's float32 at ~1e-3.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False

SAME_DEVICE = "Expected all tensors to be on the same device, but found at least two devices"



def _nn():
    import course_lib.nn as nn
    return nn


def _optim():
    import course_lib.optim as optim
    return optim


# =====================================================================================================================
# No CUDA here: what a student on a CPU-only machine sees
# =====================================================================================================================
@pytest.fixture
def no_cupy(monkeypatch):
    """`import cupy` fails with ImportError, as on a machine where CuPy is not installed."""
    monkeypatch.setitem(sys.modules, "cupy", None)   # a None entry makes `import cupy` raise ImportError
    monkeypatch.setattr(T, "_cupy", None)


def _cupy_without_gpu(count=0, error=None):
    """A `cupy` module whose driver sees `count` GPUs (or raises `error`), like CuPy on a CPU-only Colab runtime."""
    def getDeviceCount():
        if error is not None: raise error
        return count
    mod = types.ModuleType("cupy")
    mod.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=getDeviceCount))
    return mod


class _CUDARuntimeError(RuntimeError):
    "What cupy_backends.cuda.api.runtime.CUDARuntimeError looks like (a RuntimeError subclass)."


@pytest.fixture(params=["zero-devices", "driver-error"])
def cupy_no_gpu(request, monkeypatch):
    err = _CUDARuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")
    mod = _cupy_without_gpu(0, err if request.param == "driver-error" else None)
    monkeypatch.setitem(sys.modules, "cupy", mod)
    monkeypatch.setattr(T, "_cupy", None)
    return mod


def _asks_for_gpu():
    "Every way of asking for a CUDA tensor, each a zero-argument callable."
    x = cl.tensor([1.0, 2.0])
    return {
        "zeros": lambda: cl.zeros(2, device="cuda"),
        "randn": lambda: cl.randn(2, 3, device="cuda:0"),
        "tensor": lambda: cl.tensor([1.0], device="cuda"),
        "full": lambda: cl.full((2,), 3.0, device=cl.device("cuda")),
        "arange": lambda: cl.arange(3, device="cuda"),
        "zeros_like": lambda: cl.zeros_like(x, device="cuda"),
        "Tensor.to": lambda: x.to("cuda"),
        "Tensor.gpu-shorthand": lambda: x.cuda(),
        "Tensor.to-device-dtype": lambda: x.to("cuda", cl.float64),
        "Module.to": lambda: _nn().Linear(2, 3).to("cuda"),
        "synchronize": lambda: cl.cuda.synchronize(),
        "get_device_name": lambda: cl.cuda.get_device_name(),
    }


@pytest.mark.parametrize("way", list(_asks_for_gpu()))
def test_asking_for_a_gpu_without_cupy_names_cupy_and_the_install_command(no_cupy, way):
    with pytest.raises(RuntimeError) as e:
        _asks_for_gpu()[way]()
    msg = str(e.value)
    assert "CuPy" in msg and "not installed" in msg, msg
    assert "pip install" in msg and "cupy-cuda12x" in msg, msg


@pytest.mark.parametrize("way", list(_asks_for_gpu()))
def test_asking_for_a_gpu_with_cupy_but_no_gpu_names_the_gpu_and_colab_runtime(cupy_no_gpu, way):
    with pytest.raises(RuntimeError) as e:
        _asks_for_gpu()[way]()
    msg = str(e.value)
    assert "GPU" in msg and "Runtime → Change runtime type" in msg, msg
    assert "not installed" not in msg, f"CuPy is installed here, the message must blame the GPU: {msg}"


def test_missing_cupy_message_also_points_colab_users_to_a_gpu_runtime(no_cupy):
    with pytest.raises(RuntimeError) as e:
        cl.zeros(1, device="cuda")
    assert "Runtime → Change runtime type" in str(e.value)


def test_failed_request_leaves_the_cpu_tensor_alone(no_cupy):
    x = cl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError):
        x.cuda()
    assert x.device == "cpu" and x.tolist() == [1.0, 2.0] and x.grad is None


def test_is_available_is_a_bool_and_agrees_with_device_count():
    ok, n = cl.cuda.is_available(), cl.cuda.device_count()
    assert isinstance(ok, bool) and isinstance(n, int)
    assert ok == (n > 0)
    assert ok == HAS_CUDA or CUDA_MISSING.startswith("a GPU and CuPy are present but torch has no CUDA")


def test_is_available_is_false_here():
    """This project's CI machine has no GPU and no CuPy; on a GPU machine the answer must be True instead."""
    if HAS_CUDA:
        assert cl.cuda.is_available() is True and cl.cuda.device_count() >= 1
    else:
        assert cl.cuda.is_available() is False


def test_is_available_without_cupy_is_false_and_does_not_raise(no_cupy):
    assert cl.cuda.is_available() is False and cl.cuda.device_count() == 0


def test_is_available_with_cupy_but_no_gpu_is_false_and_does_not_raise(cupy_no_gpu):
    assert cl.cuda.is_available() is False and cl.cuda.device_count() == 0


def test_is_available_when_importing_cupy_crashes(monkeypatch):
    """A broken CuPy install can fail at import with something other than ImportError; still no exception."""
    class Broken:
        def find_spec(self, name, path=None, target=None):
            if name == "cupy": raise OSError("libcudart.so.12: cannot open shared object file")
            return None
    monkeypatch.delitem(sys.modules, "cupy", raising=False)
    monkeypatch.setattr(sys, "meta_path", [Broken(), *sys.meta_path])
    assert cl.cuda.is_available() is False and cl.cuda.device_count() == 0


def test_seeding_the_gpu_without_one_does_nothing(no_cupy):
    cl.cuda.manual_seed(0)           # like torch.cuda.manual_seed: silently ignored without CUDA
    cl.cuda.manual_seed_all(0)


def test_gpu_helpers_refuse_a_cpu_device():
    with pytest.raises(ValueError, match="Expected a cuda device, but got: cpu"):
        cl.cuda.synchronize("cpu")


def test_timeit_on_the_cpu_returns_a_positive_median():
    calls = []
    t = cl.cuda.timeit(lambda: calls.append(1), repeat=3, warmup=2)
    assert t > 0 and len(calls) == 5


def test_to_cpu_round_trips():
    x = cl.tensor([[1.5, -2.0], [3.0, 4.25]], requires_grad=True)
    assert x.to("cpu") is x and x.cpu() is x and x.to(cl.device("cpu")) is x and x.to(x) is x
    y = x.to("cpu", cl.float64)
    assert y is not x and y.device == "cpu" and y.dtype == cl.float64 and y.tolist() == x.tolist()
    assert y.grad_fn is not None and y.grad_fn.name() == "ToCopyBackward0"
    y.sum().backward()
    assert x.grad.dtype == cl.float32 and x.grad.tolist() == [[1.0, 1.0], [1.0, 1.0]]
    z = cl.tensor([1, 2, 3]).to("cpu")
    assert z.device == "cpu" and z.dtype == cl.int64 and z.tolist() == [1, 2, 3]


def test_device_objects():
    assert cl.device("cuda:0") == "cuda:0" and cl.device("cuda") != "cuda:0" and cl.device("cpu") == "cpu"
    assert (cl.device("cuda:1").type, cl.device("cuda:1").index, str(cl.device("cuda:1"))) == ("cuda", 1, "cuda:1")
    assert repr(cl.device("cuda", 0)) == repr(torch.device("cuda", 0)) == "device(type='cuda', index=0)"
    assert repr(cl.device("cpu")) == repr(torch.device("cpu"))


# =====================================================================================================================
# A pretend GPU: NumPy storage behind CuPy's walls
# =====================================================================================================================
_NO_IMPLICIT = ("Implicit conversion to a NumPy array is not allowed. "
                "Please use `.get()` to construct a NumPy array explicitly.")


class _Dev:
    "What `cupy.cuda.Device(i)` is: a context manager selecting a GPU, with `.id` and `.synchronize()`."
    syncs = 0

    def __init__(self, i=0): self.id = 0 if i is None else int(i)
    def __enter__(self): return self
    def __exit__(self, *exc): return False
    def synchronize(self): _Dev.syncs += 1
    def __eq__(self, other): return isinstance(other, _Dev) and other.id == self.id
    def __hash__(self): return self.id
    def __repr__(self): return f"<CUDA Device {self.id}>"


class FakeGPUArray:
    """A pretend `cupy.ndarray`: the numbers sit in a NumPy array that only `.get()` hands out."""
    __slots__ = ("_a",)
    __array_priority__ = 1000

    def __init__(self, a):
        assert isinstance(a, np.ndarray) and not isinstance(a, FakeGPUArray)
        self._a = a

    # --- what CuPy arrays add to NumPy's interface
    @property
    def device(self): return _Dev(0)
    def get(self, stream=None, order="C", out=None): return self._a.copy()
    @property
    def flags(self):                 # CuPy's flags have no `writeable`: device memory has no read-only views
        f = self._a.flags
        return types.SimpleNamespace(c_contiguous=f.c_contiguous, f_contiguous=f.f_contiguous, owndata=f.owndata)

    # --- CuPy's walls
    def __array__(self, dtype=None, copy=None): raise TypeError(_NO_IMPLICIT)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        kwargs = _unwrap(kwargs)
        if out is not None: kwargs["out"] = tuple(_unwrap(o) for o in out)
        if method == "at":           # ufunc.at(a, indices, b): indices may be host arrays
            a, idx, *rest = inputs
            ufunc.at(_unwrap(a), _unwrap(idx, host_ok=True), *_unwrap(rest), **kwargs)
            return None
        r = getattr(ufunc, method)(*_unwrap(inputs), **kwargs)
        if out is not None: return out[0] if len(out) == 1 else out
        return _wrap(r)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    # --- everything else: NumPy's behaviour, results stay on the "device"
    def __getattr__(self, name):
        if name == "_a" or name.startswith("__"): raise AttributeError(name)   # no __array_interface__ etc.
        FakeCuPy.used_methods.add(name)
        v = getattr(self._a, name)
        if callable(v): return lambda *a, **k: _wrap(v(*_unwrap(a), **_unwrap(k)))
        return _wrap(v)

    def __getitem__(self, key): return _wrap(self._a[_unwrap(key, host_ok=True)])
    def __setitem__(self, key, value): self._a[_unwrap(key, host_ok=True)] = _unwrap(value)
    def __len__(self): return len(self._a)
    def __iter__(self): return (_wrap(r) for r in self._a)
    def __bool__(self): return bool(self._a)
    def __float__(self): return float(self._a)
    def __int__(self): return int(self._a)
    def __index__(self): return operator.index(self._a)
    def __complex__(self): return complex(self._a)
    def __repr__(self): return "fake_gpu_" + repr(self._a)
    __hash__ = None


def _binary(op, reflected=False):
    if reflected: return lambda self, other: _wrap(op(_unwrap(other), self._a))
    return lambda self, other: _wrap(op(self._a, _unwrap(other)))


def _inplace(op):
    def f(self, other):
        op(self._a, _unwrap(other))
        return self
    return f


for _n in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor", "lshift", "rshift"):
    _op = getattr(operator, _n + "_" if _n in ("and", "or") else _n)
    setattr(FakeGPUArray, f"__{_n}__", _binary(_op))
    setattr(FakeGPUArray, f"__r{_n}__", _binary(_op, reflected=True))
    setattr(FakeGPUArray, f"__i{_n}__", _inplace(getattr(operator, f"i{_n}")))
for _n in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(FakeGPUArray, f"__{_n}__", _binary(getattr(operator, _n)))
for _n in ("neg", "pos", "abs", "invert"):
    setattr(FakeGPUArray, f"__{_n}__", (lambda op: lambda self: _wrap(op(self._a)))(getattr(operator, _n)))


def _unwrap(x, host_ok=False):
    "Device arrays -> their NumPy storage; a host NumPy array raises CuPy's TypeError (unless host_ok: indices)."
    if isinstance(x, FakeGPUArray): return x._a
    if isinstance(x, np.ndarray):
        if host_ok: return x
        raise TypeError(f"Unsupported type {type(x)}")
    if isinstance(x, (tuple, list)):
        return type(x)(_unwrap(v, host_ok) for v in x) if not hasattr(x, "_fields") else x
    if isinstance(x, dict): return {k: _unwrap(v, host_ok) for k, v in x.items()}
    return x


def _wrap(r):
    "NumPy results -> device arrays; 0-d results stay arrays, as CuPy's do."
    if isinstance(r, FakeGPUArray): return r
    if isinstance(r, np.ndarray): return FakeGPUArray(r)
    if isinstance(r, np.generic): return FakeGPUArray(np.asarray(r))
    if isinstance(r, tuple) and hasattr(r, "_fields"): return type(r)(*(_wrap(v) for v in r))
    if isinstance(r, (tuple, list)): return type(r)(_wrap(v) for v in r)
    return r


class _OnDevice:
    "A NumPy callable (function or ufunc) whose results land on the pretend device."
    def __init__(self, f): self._f = f
    def __call__(self, *a, **k):
        out = k.pop("out", None)
        k = _unwrap(k)
        if out is not None:
            outs = out if isinstance(out, tuple) else (out,)
            k["out"] = tuple(_unwrap(o) for o in outs) if isinstance(self._f, np.ufunc) else _unwrap(outs[0])
            self._f(*_unwrap(a), **k)
            return outs[0] if len(outs) == 1 else outs
        return _wrap(self._f(*_unwrap(a), **k))
    def __getattr__(self, name):                      # ufunc.reduce / .at / .outer
        g = getattr(self._f, name)
        if name == "at":
            return lambda a, idx, *rest: g(_unwrap(a), _unwrap(idx, host_ok=True), *_unwrap(rest))
        return _OnDevice(g) if callable(g) else g


class _Random:
    "cupy.random: CuPy's own generator (here a NumPy RandomState), seeded by `seed`."
    def __init__(self): self._rs = np.random.RandomState(1234)
    def seed(self, seed=None): self._rs = np.random.RandomState(seed)
    def __getattr__(self, name):
        FakeCuPy.used.add("random." + name)
        return _OnDevice(getattr(self._rs, name))


class FakeCuPy(types.ModuleType):
    "A stand-in `cupy`: NumPy's API, results on the pretend device; host data only through asarray/array/asnumpy."
    used, used_methods = set(), set()
    ndarray = FakeGPUArray

    def __init__(self):
        super().__init__("cupy")
        self.__version__ = "0.0.0+pretend"
        self.random = _Random()
        props = {"name": b"Pretend GPU (NumPy behind CuPy's walls)", "totalGlobalMem": 16 << 30}
        self.cuda = types.SimpleNamespace(
            Device=_Dev,
            runtime=types.SimpleNamespace(getDeviceCount=lambda: 1, deviceSynchronize=lambda: None,
                                          getDeviceProperties=lambda i: dict(props)),
            is_available=lambda: True)

    # host -> device: the explicit copies CuPy allows
    def asarray(self, a, dtype=None, order=None, **kw):
        if isinstance(a, FakeGPUArray): return a if dtype is None else a.astype(dtype, copy=False)
        return FakeGPUArray(np.array(a, dtype=dtype, copy=True))
    def array(self, a, dtype=None, copy=True, order="K", subok=False, ndmin=0, **kw):
        src = a._a if isinstance(a, FakeGPUArray) else a
        return FakeGPUArray(np.array(src, dtype=dtype, copy=True, ndmin=ndmin))
    def asnumpy(self, a, stream=None, order="C", out=None, **kw):
        return a.get() if isinstance(a, FakeGPUArray) else np.asarray(a)
    def get_array_module(self, *args):
        return self if builtins.any(isinstance(a, FakeGPUArray) for a in args) else np
    def is_available(self): return True

    def __getattr__(self, name):
        obj = getattr(np, name)                        # AttributeError for what NumPy lacks
        FakeCuPy.used.add(name)
        if isinstance(obj, (type, types.ModuleType)) or not callable(obj): return obj   # dtypes, constants
        return _OnDevice(obj)


def _fake_cupyx(cp):
    mod = types.ModuleType("cupyx")
    def scatter_add(a, slices, value):
        FakeCuPy.used.add("cupyx.scatter_add")
        np.add.at(_unwrap(a), _unwrap(slices, host_ok=True), _unwrap(value))
    mod.scatter_add = scatter_add
    return mod


@pytest.fixture
def fake_gpu(monkeypatch):
    """Install the pretend CuPy for one test; course_lib finds it through its ordinary `import cupy`."""
    cp = FakeCuPy()
    monkeypatch.setitem(sys.modules, "cupy", cp)
    monkeypatch.setitem(sys.modules, "cupyx", _fake_cupyx(cp))
    monkeypatch.setattr(T, "_cupy", None)           # restored afterwards (a real CuPy on a GPU machine)
    return cp


def on_gpu(t):
    "Is this tensor's storage on the pretend GPU?"
    return isinstance(t._data, FakeGPUArray) and t.device == "cuda:0" and t.is_cuda


def test_pretend_gpu_is_seen_as_a_gpu(fake_gpu):
    assert cl.cuda.is_available() and cl.cuda.device_count() == 1
    assert cl.cuda.get_device_name().startswith("Pretend GPU")
    x = cl.zeros(2, 3, device="cuda")
    assert on_gpu(x) and x.device == cl.device("cuda", 0) and str(x.device) == "cuda:0"
    with pytest.raises(TypeError, match="Implicit conversion"):   # the wall is real
        np.asarray(x._data)


@pytest.mark.parametrize("make", [
    lambda d: cl.zeros(2, 3, device=d), lambda d: cl.ones((2, 3), device=d), lambda d: cl.empty(4, device=d),
    lambda d: cl.full((2, 2), 1.5, device=d), lambda d: cl.arange(5, device=d), lambda d: cl.arange(0, 1, 0.25, device=d),
    lambda d: cl.linspace(0, 1, 5, device=d), lambda d: cl.eye(3, device=d), lambda d: cl.rand(2, 2, device=d),
    lambda d: cl.randn(3, device=d), lambda d: cl.randint(0, 10, (4,), device=d), lambda d: cl.randperm(5, device=d),
    lambda d: cl.tensor([[1, 2], [3, 4]], device=d), lambda d: cl.tensor(np.ones(3), device=d),
    lambda d: cl.tensor(cl.ones(2), device=d), lambda d: cl.zeros_like(cl.ones(2), device=d),
    lambda d: cl.ones_like(cl.zeros(2, device=d)), lambda d: cl.rand_like(cl.zeros(2, device=d)),
    lambda d: cl.randn_like(cl.zeros(2, device=d)), lambda d: cl.full_like(cl.zeros(2, device=d), 7),
], ids=lambda f: "")
def test_factories_put_storage_on_the_requested_device(fake_gpu, make):
    for d in ("cuda", "cuda:0", cl.device("cuda")):
        t = make(d)
        assert on_gpu(t), (d, type(t._data))
        cpu = make("cpu")
        assert cpu.dtype == t.dtype and cpu.shape == t.shape and cpu.device == "cpu"


def test_factory_dtype_and_requires_grad_on_the_pretend_gpu(fake_gpu):
    t = cl.randn(2, 3, dtype=cl.float64, device="cuda", requires_grad=True)
    assert on_gpu(t) and t.dtype == cl.float64 and t.requires_grad and t.is_leaf
    assert "device='cuda:0'" in repr(t) and "dtype=course_lib.float64" in repr(t) and "requires_grad=True" in repr(t)


def test_to_gpu_and_back_copies_and_keeps_values(fake_gpu):
    x = cl.tensor([[1.0, 2.0], [3.0, 4.5]])
    g = x.cuda()
    assert on_gpu(g) and g.tolist() == x.tolist() and g.dtype == x.dtype
    assert g.to("cuda") is g and g.cuda() is g and g.to("cuda:0") is g and x.to("cpu") is x
    assert x.to("cuda:0").device == "cuda:0" and x.cuda(0).device == "cuda:0" and x.to(device="cuda").is_cuda
    back = g.cpu()
    assert back.device == "cpu" and isinstance(back._data, np.ndarray) and not isinstance(back._data, FakeGPUArray)
    assert back.tolist() == x.tolist()
    back._data[0, 0] = 100.0                       # a copy: neither the GPU tensor nor the original changed
    assert g.tolist()[0][0] == 1.0 and x.tolist()[0][0] == 1.0
    h = x.to("cuda", cl.float64)
    assert on_gpu(h) and h.dtype == cl.float64 and h.to(x).device == "cpu" and h.to(x).dtype == cl.float32
    assert x.to(h).device == "cuda:0" and x.to(h).dtype == cl.float64


def test_moves_are_differentiable_and_grads_go_home(fake_gpu):
    x = cl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    g = x.cuda()
    assert g.grad_fn is not None and g.grad_fn.name() == "ToCopyBackward0" and not g.is_leaf
    (g * g).sum().backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [2.0, 4.0, 6.0]
    w = cl.tensor([1.0, -1.0], device="cuda", requires_grad=True)
    (w.cpu() * 3.0).sum().backward()
    assert on_gpu(w.grad) and w.grad.tolist() == [3.0, 3.0]


def test_numpy_of_a_gpu_tensor_raises_torchs_error(fake_gpu):
    g = cl.ones(2, device="cuda")
    with pytest.raises(TypeError) as e:
        g.numpy()
    assert str(e.value) == ("can't convert cuda:0 device type tensor to numpy. "
                            "Use Tensor.cpu() to copy the tensor to host memory first.")
    assert g.cpu().numpy().tolist() == [1.0, 1.0]
    with pytest.raises(TypeError):
        np.asarray(g)                               # Tensor.__array__ goes through numpy() too
    assert g.sum().item() == 2.0


def test_scalar_conversions_and_repr_work_on_the_pretend_gpu(fake_gpu):
    g = cl.tensor([[1.0, 2.0], [3.0, 4.0]], device="cuda", requires_grad=True)
    assert g[1, 0].item() == 3.0 and float(g[0, 1]) == 2.0 and g.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert repr(g) == "tensor([[1., 2.],\n        [3., 4.]], device='cuda:0', requires_grad=True)"
    assert repr(g.sum()) == "tensor(10., device='cuda:0', grad_fn=<SumBackward0>)"


def _pairs():
    "(name, f(a, b)) for ops that combine two tensors."
    F = lambda: __import__("course_lib.nn.functional", fromlist=["F"])
    return [
        ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b), ("pow", lambda a, b: a ** b), ("matmul", lambda a, b: a @ b.T),
        ("lt", lambda a, b: a < b), ("eq", lambda a, b: a == b), ("maximum", lambda a, b: cl.maximum(a, b)),
        ("minimum", lambda a, b: cl.minimum(a, b)), ("where", lambda a, b: cl.where(a > 0, a, b)),
        ("cat", lambda a, b: cl.cat([a, b])), ("stack", lambda a, b: cl.stack([a, b])),
        ("add_", lambda a, b: a.add_(b)), ("mul_", lambda a, b: a.mul_(b)),
        ("mse_loss", lambda a, b: F().mse_loss(a, b)),
    ]


@pytest.mark.parametrize("name,f", _pairs(), ids=[n for n, _ in _pairs()])
@pytest.mark.parametrize("gpu_side", ["left", "right"])
def test_mixing_devices_raises_torchs_error_naming_both(fake_gpu, name, f, gpu_side):
    h = cl.tensor([[1.0, -2.0], [3.0, 4.0]])
    g = cl.tensor([[0.5, 1.0], [2.0, -1.0]], device="cuda")
    a, b = (g, h) if gpu_side == "left" else (h, g)
    with pytest.raises(RuntimeError) as e:
        f(a, b)
    msg = str(e.value)
    assert msg.startswith(SAME_DEVICE) and "cpu" in msg and "cuda:0" in msg, msg
    assert h.tolist() == [[1.0, -2.0], [3.0, 4.0]] and g.tolist() == [[0.5, 1.0], [2.0, -1.0]]


def test_copy_between_devices_like_torch(fake_gpu):
    """`dst.copy_(src)` is an explicit copy: torch allows it between devices, so do we."""
    h = cl.tensor([[1.0, -2.0], [3.0, 4.0]])
    g = cl.zeros(2, 2, device="cuda")
    assert g.copy_(h) is g and on_gpu(g) and g.tolist() == h.tolist()
    h2 = cl.zeros(2, 2)
    assert h2.copy_(g) is h2 and h2.device == "cpu" and h2.tolist() == h.tolist()


def test_setitem_between_devices_like_torch(fake_gpu):
    """`dst[k] = src` copies like copy_: torch accepts a value on another device, and CPU index tensors."""
    g = cl.zeros(2, 2, device="cuda")
    g[0] = cl.tensor([7.0, 8.0])
    assert on_gpu(g) and g.tolist() == [[7.0, 8.0], [0.0, 0.0]]
    h = cl.zeros(2, 2)
    h[1] = g[0]
    assert h.device == "cpu" and h.tolist() == [[0.0, 0.0], [7.0, 8.0]]


def test_mixing_devices_in_cross_entropy(fake_gpu):
    F = pytest.importorskip("course_lib.nn.functional")
    logits = cl.randn(4, 3, device="cuda", requires_grad=True)
    with pytest.raises(RuntimeError, match=SAME_DEVICE):
        F.cross_entropy(logits, cl.tensor([0, 2, 1, 0]))


def test_python_numbers_go_anywhere(fake_gpu):
    g = cl.tensor([1.0, 2.0], device="cuda")
    for r in (g + 1, 2 * g, g / 2.0, g ** 2, 1 - g, g > 1.5, cl.maximum(g, 1.5), g.clamp(min=1.5)):
        assert on_gpu(r)


def test_ops_forward_and_backward_stay_on_the_pretend_gpu(fake_gpu):
    """A little of everything, each result and gradient checked against the same computation on the CPU."""
    F = pytest.importorskip("course_lib.nn.functional")
    def compute(device):
        cl.manual_seed(0)
        x = cl.randn(4, 5).to(device).requires_grad_()
        w = cl.randn(5, 3).to(device).requires_grad_()
        idx = cl.tensor([0, 2, 2, 1]).to(device)
        h = (x @ w).tanh() + x[:, :3].relu() * x.sigmoid()[:, 1:4] - x.abs().sqrt()[:, :3] + x.exp().log()[:, 2:]
        h = cl.cat([h, h[idx]], dim=0).softmax(dim=1) + cl.cat([cl.stack([h, h[idx]]).sum(dim=0)] * 2) * 0.1
        s = h.sum(dim=0, keepdim=True).mean() + h.max() + h.var() + h.std(dim=1).sum() + h.transpose(0, 1).reshape(-1)[3]
        s = s + F.cross_entropy(h, cl.tensor([0, 1, 2, 0, 1, 2, 0, 1]).to(device)) + F.mse_loss(h, cl.zeros_like(h))
        s = s + cl.where(h > 0.3, h, cl.zeros_like(h)).sum() + h.unsqueeze(0).squeeze(0).permute(1, 0).flatten().logsumexp(dim=0)
        s = s + cl.maximum(h, h.mean()).sum() + h.clamp(min=0.1, max=0.9).sum() + h.log_softmax(dim=1)[:, 0].sum()
        s.backward()
        return s.detach(), x.grad, w.grad
    gpu, cpu = compute("cuda"), compute("cpu")
    for a, b in zip(gpu, cpu):
        assert on_gpu(a), type(a._data)
        np.testing.assert_allclose(a.cpu().numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_gradients_accumulate_over_two_backward_calls_on_the_pretend_gpu(fake_gpu):
    """CuPy arrays have no read-only flag: a broadcast view handed to a leaf as its first .grad must still be copied,
    or the next backward adds into a stride-0 view (on a real GPU: silently wrong numbers)."""
    x = cl.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    x.sum().backward()
    x.sum().backward()
    (x * 2).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0, 4.0]


def test_integer_index_backward_accumulates_on_the_pretend_gpu(fake_gpu):
    x = cl.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    x[cl.tensor([0, 2, 2], device="cuda")].sum().backward()
    assert on_gpu(x.grad) and x.grad.tolist() == [1.0, 0.0, 2.0]
    y = cl.tensor([1.0, 2.0, 3.0], device="cuda", requires_grad=True)
    y[[1, 1, 1]].sum().backward()
    assert y.grad.tolist() == [0.0, 3.0, 0.0]


def test_module_to_moves_parameters_in_place(fake_gpu):
    nn = _nn()
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    params = list(model.parameters())
    before = [p.tolist() for p in params]
    assert model.to("cuda") is model
    assert [id(p) for p in model.parameters()] == [id(p) for p in params]      # same Parameter objects
    assert all(on_gpu(p) and p.requires_grad and p.is_leaf and isinstance(p, nn.Parameter) for p in params)
    assert [p.tolist() for p in params] == before
    out = model(cl.randn(5, 3, device="cuda"))
    assert on_gpu(out) and out.shape == (5, 2)
    with pytest.raises(RuntimeError, match=SAME_DEVICE):
        model(cl.randn(5, 3))                                                  # input left on the CPU
    assert model.cpu() is model and all(p.device == "cpu" for p in params)
    assert model.cuda() is model and all(on_gpu(p) for p in params)
    assert model.to("cuda", cl.float64) is model and all(on_gpu(p) and p.dtype == cl.float64 for p in params)


def test_module_factory_kwargs_device(fake_gpu):
    nn = _nn()
    lin = nn.Linear(3, 2, device="cuda")
    assert on_gpu(lin.weight) and on_gpu(lin.bias)


def test_state_dict_loads_across_devices(fake_gpu):
    nn = _nn()
    src = nn.Linear(3, 2)
    dst = nn.Linear(3, 2).to("cuda")
    dst.load_state_dict(src.state_dict())
    assert all(on_gpu(p) for p in dst.parameters())
    assert dst.weight.tolist() == src.weight.tolist()


@pytest.mark.parametrize("opt_name", ["SGD", "SGD-momentum", "Adam"])
def test_training_on_the_pretend_gpu_matches_the_cpu(fake_gpu, opt_name):
    """The whole loop on "cuda": forward, loss, backward, optimizer step; every state tensor stays on the device."""
    nn, optim = _nn(), _optim()
    def make_opt(params):
        if opt_name == "SGD": return optim.SGD(params, lr=0.1)
        if opt_name == "SGD-momentum": return optim.SGD(params, lr=0.05, momentum=0.9, weight_decay=1e-3)
        return optim.Adam(params, lr=0.01)
    def train(device):
        cl.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 1))
        X, y = cl.randn(32, 3), cl.randn(32, 1)
        model.to(device); X, y = X.to(device), y.to(device)
        opt, losses = make_opt(model.parameters()), []
        for _ in range(10):
            loss = nn.MSELoss()(model(X), y)
            opt.zero_grad(); loss.backward(); opt.step()
            losses.append(loss.item())
        return model, opt, losses
    gm, gopt, glosses = train("cuda")
    cm, _, closses = train("cpu")
    np.testing.assert_allclose(glosses, closses, rtol=1e-5)
    assert glosses[-1] < glosses[0]
    for p, q in zip(gm.parameters(), cm.parameters()):
        assert on_gpu(p) and on_gpu(p.grad)
        np.testing.assert_allclose(p.detach().cpu().numpy(), q.detach().numpy(), rtol=1e-5, atol=1e-6)
    for state in gopt.state.values():
        for v in state.values():
            if isinstance(v, cl.Tensor) and v.ndim > 0: assert on_gpu(v), v


def test_optimizer_state_left_on_the_cpu_is_a_device_error(fake_gpu):
    """Training, then moving the model: Adam's moving averages stay behind, like torch's. Documented in chapter 10."""
    nn, optim = _nn(), _optim()
    model = nn.Linear(2, 1)
    opt = optim.Adam(model.parameters(), lr=0.1)
    model(cl.randn(4, 2)).sum().backward(); opt.step()
    model.to("cuda")
    model(cl.randn(4, 2, device="cuda")).sum().backward()
    with pytest.raises(RuntimeError, match=SAME_DEVICE):
        opt.step()


def test_seeding_the_pretend_gpu(fake_gpu):
    cl.cuda.manual_seed(3)
    a = cl.randn(4, device="cuda").tolist()
    cl.cuda.manual_seed_all(3)
    b = cl.randn(4, device="cuda").tolist()
    cl.manual_seed(3)                              # torch.manual_seed seeds every device too
    c = cl.randn(4, device="cuda").tolist()
    assert a == b == c


def test_manual_seed_before_the_first_gpu_tensor_still_seeds_the_gpu(fake_gpu):
    """`cl.manual_seed(0)` then `cl.randn(..., device="cuda")` must be reproducible even when CuPy was not loaded
    yet when manual_seed ran (the usual first cell of a notebook)."""
    cl.manual_seed(5)
    a = cl.randn(4, device="cuda").tolist()
    T._cupy = None                                  # as in a fresh process: CuPy not loaded yet
    cl.manual_seed(5)
    b = cl.randn(4, device="cuda").tolist()
    assert a == b


def test_synchronize_and_timeit_synchronize_on_the_pretend_gpu(fake_gpu):
    before = _Dev.syncs
    cl.cuda.synchronize()
    cl.cuda.synchronize("cuda:0")
    cl.cuda.synchronize(0)
    assert _Dev.syncs == before + 3
    before = _Dev.syncs
    cl.cuda.timeit(lambda: None, device="cuda", repeat=4, warmup=1)
    assert _Dev.syncs == before + 8                 # before and after each timed run
    before = _Dev.syncs
    cl.cuda.timeit(lambda: None, device="cuda", repeat=4, sync=False)
    assert _Dev.syncs == before


# =====================================================================================================================
# Real CUDA: course_lib on CuPy against torch on CUDA (skipped here, with the reason)
# =====================================================================================================================
needs_cuda = pytest.mark.skipif(not HAS_CUDA, reason=f"cuda: {CUDA_MISSING}")
CUDA = [pytest.param("cuda", marks=needs_cuda, id="cuda")]


@pytest.mark.parametrize("device", CUDA)
def test_cuda_tensor_basics(device):
    import cupy
    x = cl.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    assert isinstance(x._data, cupy.ndarray) and x.device == "cuda:0" and x.is_cuda
    assert repr(x) == repr(torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True))
    assert x.to("cuda") is x and x.cuda() is x
    assert x.cpu().device == "cpu" and x.cpu().tolist() == x.tolist()
    with pytest.raises(TypeError) as e:
        x.detach().numpy()
    with pytest.raises(TypeError) as te:
        torch.ones(1, device=device).numpy()
    assert str(e.value) == str(te.value)
    assert cl.cuda.is_available() and cl.cuda.device_count() == torch.cuda.device_count()
    assert cl.cuda.get_device_name() == torch.cuda.get_device_name()


@pytest.mark.parametrize("device", CUDA)
def test_cuda_mixed_devices_error_names_both_devices_like_torch(device):
    with pytest.raises(RuntimeError) as e:
        cl.ones(2, device=device) + cl.ones(2)
    with pytest.raises(RuntimeError) as te:
        torch.ones(2, device=device) + torch.ones(2)
    assert str(e.value).startswith(SAME_DEVICE) and str(te.value).startswith(SAME_DEVICE)
    assert "cpu" in str(e.value) and "cuda:0" in str(e.value)


@pytest.mark.parametrize("device", CUDA)
def test_cuda_factories_and_seed_reproducibility(device):
    cl.zeros(1, device=device)      # CuPy loaded first: seeding before that is test F2's case (a pretend-GPU test above)
    cl.manual_seed(0)
    a = cl.randn(1000, device=device)
    cl.manual_seed(0)
    b = cl.randn(1000, device=device)
    assert a.is_cuda and a.tolist() == b.tolist()
    assert abs(a.mean().item()) < 0.15 and abs(a.std().item() - 1) < 0.1
    for t in (cl.zeros(2, device=device), cl.arange(4, device=device), cl.eye(3, device=device),
              cl.full((2,), 2.0, device=device), cl.rand(3, device=device), cl.randint(0, 5, (3,), device=device)):
        assert t.is_cuda


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", CUDA)
def test_cuda_matmul_forward_backward_matches_torch(device, dtype):
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((257, 129)).astype(dtype), rng.standard_normal((129, 65)).astype(dtype)
    a, b = cl.tensor(A, device=device, requires_grad=True), cl.tensor(B, device=device, requires_grad=True)
    ta, tb = torch.tensor(A, device=device, requires_grad=True), torch.tensor(B, device=device, requires_grad=True)
    (a @ b).tanh().sum().backward(); (ta @ tb).tanh().sum().backward()
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(a.grad.cpu().numpy(), ta.grad.cpu().numpy(), **tol)
    np.testing.assert_allclose(b.grad.cpu().numpy(), tb.grad.cpu().numpy(), **tol)


@pytest.mark.parametrize("opt_name", ["SGD", "SGD-momentum", "Adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("device", CUDA)
def test_cuda_training_matches_torch(device, dtype, opt_name):
    """nn/optim parity on the GPU: the same MLP, data and optimizer in course_lib (CuPy) and torch (CUDA, TF32 off)."""
    nn, optim = _nn(), _optim()
    cdt, tdt = getattr(cl, dtype), getattr(torch, dtype)
    cl.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 32, dtype=cdt), nn.Tanh(), nn.Linear(32, 3, dtype=cdt))
    twin = torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.Tanh(), torch.nn.Linear(32, 3)).to(tdt)
    twin.load_state_dict({k: torch.from_numpy(v.detach().numpy().copy()) for k, v in model.state_dict().items()})
    model.to(device); twin.to(device)
    rng = np.random.default_rng(1)
    def make(lib, params):
        if opt_name == "SGD": return lib.SGD(params, lr=0.1)
        if opt_name == "SGD-momentum": return lib.SGD(params, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
        return lib.Adam(params, lr=0.01, weight_decay=1e-3)
    opt, topt = make(optim, model.parameters()), make(torch.optim, twin.parameters())
    for step in range(20):
        X, Y = rng.standard_normal((16, 6)).astype(dtype), rng.integers(0, 3, 16)
        loss = nn.CrossEntropyLoss()(model(cl.tensor(X, device=device)), cl.tensor(Y, device=device))
        tloss = torch.nn.CrossEntropyLoss()(twin(torch.tensor(X, device=device)), torch.tensor(Y, device=device))
        opt.zero_grad(); loss.backward(); opt.step()
        topt.zero_grad(); tloss.backward(); topt.step()
        tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(loss.item(), tloss.item(), **tol, err_msg=f"loss at step {step}")
    for (n, p), (_, tp) in zip(model.named_parameters(), twin.named_parameters()):
        assert p.is_cuda
        np.testing.assert_allclose(p.detach().cpu().numpy(), tp.detach().cpu().numpy(), **tol, err_msg=n)


def test_accelerator_and_mps_answer_like_torch_on_this_machine():
    "`torch.accelerator` and `torch.backends.mps`, as tutorials use them to pick a device: course_lib's accelerator is CUDA."
    import torch
    assert cl.accelerator.is_available() is cl.cuda.is_available()
    assert cl.accelerator.device_count() == cl.cuda.device_count()
    assert cl.accelerator.current_accelerator() == (cl.device("cuda") if cl.cuda.is_available() else None)
    assert cl.backends.mps.is_available() is False and cl.backends.mps.is_built() is False
    if not torch.backends.mps.is_available() and torch.cuda.is_available() == cl.cuda.is_available():
        theirs = torch.accelerator.current_accelerator()
        ours = cl.accelerator.current_accelerator()
        assert (ours is None) == (theirs is None) and (ours is None or ours.type == theirs.type)
        assert cl.accelerator.is_available() == torch.accelerator.is_available()
