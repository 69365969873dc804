"""Shared helpers for the course_lib-vs-torch test suites.

Everything here builds *paired* inputs -- one course_lib tensor and one torch tensor holding exactly the
same numpy data -- runs the same expression on both, and compares values and gradients. torch is always the
reference: no expected value in these suites comes from course_lib's own output.
"""
import importlib
import zlib
from types import SimpleNamespace

import numpy as np
import torch

import course_lib as cl

# ---------------------------------------------------------------------------------------------------------
# dtypes and devices
# ---------------------------------------------------------------------------------------------------------
FLOAT_DTYPES = ["float32", "float64"]


def cl_dtype(name):
    return getattr(cl, name)


def torch_dtype(name):
    return getattr(torch, name)


def torch_to_cl_dtype(tdt):
    """The course_lib dtype object that corresponds to a torch dtype."""
    return getattr(cl, str(tdt).replace("torch.", ""))


def torch_device(device):
    """course_lib device string -> torch device string (same spelling)."""
    return device


def cl_F():
    """course_lib.nn.functional, imported lazily so a missing nn package fails only the tests that use it."""
    return importlib.import_module("course_lib.nn.functional")


def torch_F():
    return torch.nn.functional


def seed_for(name):
    """A stable per-test seed (Python's hash() is salted per process; crc32 is not)."""
    return zlib.crc32(name.encode())


# ---------------------------------------------------------------------------------------------------------
# conversion and comparison
# ---------------------------------------------------------------------------------------------------------
TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}


def to_numpy(t):
    """A course_lib or torch tensor -> numpy array on the host (through each library's public API)."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    return np.asarray(t.numpy())


def tol_for(dtype_name, scale=1.0):
    tl = TOL.get(dtype_name)
    if tl is None:  # integer / bool: exact
        return dict(rtol=0, atol=0)
    return dict(rtol=tl["rtol"] * scale, atol=tl["atol"] * scale)


def assert_same_tensor(c, t, what="value", scale=1.0, rtol=None, atol=None):
    """c (course_lib) must equal t (torch): type, shape, dtype, device type and values within tolerance.

    The absolute tolerance is scaled by the reference's magnitude (max(1, max|t|)) so that float32 sums and
    products of O(10) numbers are compared sensibly; the relative tolerance is elementwise.
    """
    assert isinstance(c, cl.Tensor), f"{what}: expected a course_lib Tensor, got {type(c).__name__}"
    assert tuple(c.shape) == tuple(t.shape), f"{what}: shape {tuple(c.shape)} != torch's {tuple(t.shape)}"
    expected_dtype = torch_to_cl_dtype(t.dtype)
    assert c.dtype == expected_dtype, f"{what}: dtype {c.dtype!r} != torch's {t.dtype}"
    assert c.device.type == t.device.type, f"{what}: device {c.device} != torch's {t.device}"
    a, b = to_numpy(c), to_numpy(t)
    assert a.shape == b.shape, f"{what}: numpy() shape {a.shape} != {b.shape}"
    dname = str(t.dtype).replace("torch.", "")
    if dname not in TOL:
        np.testing.assert_array_equal(a, b, err_msg=f"{what} differs from torch")
        return
    tl = tol_for(dname, scale)
    if rtol is not None:
        tl["rtol"] = rtol
    if atol is not None:
        tl["atol"] = atol
    finite = np.isfinite(b)
    mag = float(np.max(np.abs(b[finite]))) if finite.any() else 1.0
    np.testing.assert_allclose(a, b, rtol=tl["rtol"], atol=tl["atol"] * max(1.0, mag), equal_nan=True,
                               err_msg=f"{what} differs from torch")


def assert_same_output(c_out, t_out, what="output", scale=1.0):
    """Outputs may be a tensor or a (named) tuple of tensors (max/min with dim)."""
    if isinstance(t_out, torch.Tensor):
        assert_same_tensor(c_out, t_out, what, scale)
        assert bool(c_out.requires_grad) == bool(t_out.requires_grad), \
            f"{what}: requires_grad {c_out.requires_grad} != torch's {t_out.requires_grad}"
        assert (c_out.grad_fn is None) == (t_out.grad_fn is None), \
            f"{what}: grad_fn {c_out.grad_fn!r} vs torch's {t_out.grad_fn!r}"
        return
    assert isinstance(c_out, tuple), f"{what}: torch returns a tuple, course_lib returned {type(c_out).__name__}"
    assert len(c_out) == len(t_out)
    for i, (c, t) in enumerate(zip(c_out, t_out)):
        assert_same_output(c, t, f"{what}[{i}]", scale)
    for field in getattr(t_out, "_fields", None) or (["values", "indices"] if hasattr(t_out, "values") else []):
        assert hasattr(c_out, field), f"{what}: torch's result has .{field}, course_lib's does not"
        assert_same_tensor(getattr(c_out, field), getattr(t_out, field), f"{what}.{field}", scale)


def assert_same_grads(c_inputs, t_inputs, scale=1.0):
    for i, (c, t) in enumerate(zip(c_inputs, t_inputs)):
        if not isinstance(t, torch.Tensor) or not t.requires_grad:
            continue
        if t.grad is None:
            assert c.grad is None, f"grad of input {i}: torch has None, course_lib has {c.grad!r}"
            continue
        assert c.grad is not None, f"grad of input {i} is None in course_lib (torch: {t.grad})"
        assert_same_tensor(c.grad, t.grad, f"grad of input {i}", scale)
        assert not c.grad.requires_grad


# ---------------------------------------------------------------------------------------------------------
# paired tensors
# ---------------------------------------------------------------------------------------------------------
def paired(data, dtype=None, device="cpu", requires_grad=False):
    """The same numpy data as a course_lib tensor and a torch tensor.

    dtype: None (keep the numpy / Python dtype, as both libraries' tensor() do) or a name like "float32".
    """
    arr = np.array(data)
    c_kw, t_kw = {}, {}
    if dtype is not None:
        c_kw["dtype"], t_kw["dtype"] = cl_dtype(dtype), torch_dtype(dtype)
    c = cl.tensor(arr, device=device, requires_grad=requires_grad, **c_kw)
    t = torch.tensor(arr, device=torch_device(device), requires_grad=requires_grad, **t_kw)
    return c, t


def make_context(lib, device):
    """What an expression needs to build its constants on the right device: C.lib, C.F, C.t(data)."""
    is_torch = lib is torch
    F = torch_F() if is_torch else None

    def t(data, dtype=None):
        kw = {} if dtype is None else {"dtype": getattr(lib, dtype)}
        return lib.tensor(np.array(data), device=device, **kw)

    ctx = SimpleNamespace(lib=lib, t=t, device=device, is_torch=is_torch)
    if is_torch:
        ctx.F = F
    else:
        # resolved on first use so that a missing course_lib.nn only fails the F.* cases
        class _Lazy(SimpleNamespace):
            def __getattr__(self, name):
                return getattr(cl_F(), name)
        ctx.F = _Lazy()
    return ctx


# ---------------------------------------------------------------------------------------------------------
# input generators: each takes (rng, dtype_name) and returns a numpy array
# ---------------------------------------------------------------------------------------------------------
def normal(*shape):
    return SimpleNamespace(kind="float", make=lambda rng, dt: rng.standard_normal(shape).astype(dt), grad=True)


def const(*shape):
    """A float input that does NOT require grad (weights held fixed, targets): its .grad must stay None."""
    return SimpleNamespace(kind="float", make=lambda rng, dt: rng.standard_normal(shape).astype(dt), grad=False)


def positive(*shape, lo=0.5, hi=2.0):
    return SimpleNamespace(kind="float", make=lambda rng, dt: rng.uniform(lo, hi, shape).astype(dt), grad=True)


def nonzero(*shape):
    """|x| in [0.5, 2] with random sign (denominators, abs)."""
    def make(rng, dt):
        return (rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 2.0, shape)).astype(dt)
    return SimpleNamespace(kind="float", make=make, grad=True)


def unit(*shape, lo=0.05, hi=0.95):
    return SimpleNamespace(kind="float", make=lambda rng, dt: rng.uniform(lo, hi, shape).astype(dt), grad=True)


def fixed(values, grad=True):
    """Exact values (ties, boundaries) in the test's float dtype."""
    arr = np.array(values, dtype=np.float64)
    return SimpleNamespace(kind="float", make=lambda rng, dt: arr.astype(dt), grad=grad)


def integers(values):
    """An int64 tensor (indices, class targets): never requires grad."""
    arr = np.array(values, dtype=np.int64)
    return SimpleNamespace(kind="int", make=lambda rng, dt: arr.copy(), grad=False)


def mask(values):
    arr = np.array(values, dtype=bool)
    return SimpleNamespace(kind="bool", make=lambda rng, dt: arr.copy(), grad=False)


def build_inputs(specs, dtype_name, device, rng):
    """Paired leaf tensors for a list of input specs."""
    c_in, t_in = [], []
    for s in specs:
        arr = s.make(rng, dtype_name)
        rg = s.grad and s.kind == "float"
        dt = dtype_name if s.kind == "float" else None
        c, t = paired(arr, dtype=dt, device=device, requires_grad=rg)
        c_in.append(c)
        t_in.append(t)
    return c_in, t_in


def run_both(fn, specs, dtype_name, device, seed, scale=1.0, check_grad=True):
    """Evaluate fn(C, *inputs) with course_lib and torch on the same data; compare values and gradients.

    Gradients: for a 0-d float output, out.backward(); otherwise out.backward(g) with a random g (the same
    numbers for both libraries), so every element of the Jacobian-vector product is exercised.
    Returns (c_out, t_out, c_in, t_in).
    """
    rng = np.random.default_rng(seed)
    c_in, t_in = build_inputs(specs, dtype_name, device, rng)
    t_out = fn(make_context(torch, device), *t_in)
    c_out = fn(make_context(cl, device), *c_in)
    assert_same_output(c_out, t_out, scale=scale)
    if not check_grad:
        return c_out, t_out, c_in, t_in
    c_main = c_out[0] if isinstance(t_out, tuple) else c_out
    t_main = t_out[0] if isinstance(t_out, tuple) else t_out
    if t_main.requires_grad:
        if t_main.ndim == 0:
            t_main.backward()
            c_main.backward()
        else:
            g = rng.standard_normal(tuple(t_main.shape))
            dname = str(t_main.dtype).replace("torch.", "")
            cg, tg = paired(g, dtype=dname, device=device)
            t_main.backward(tg)
            c_main.backward(cg)
        assert_same_grads(c_in, t_in, scale=scale)
    else:
        for c in c_in:
            if getattr(c, "requires_grad", False):
                assert c.grad is None
    return c_out, t_out, c_in, t_in
