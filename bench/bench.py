"""How fast is course_lib? The same training step in three implementations, timed side by side.

    python bench/bench.py            # full run (`make bench`), about 2 minutes
    python bench/bench.py --quick    # short run (`make bench QUICK=1`), under 30 s
    python bench/bench.py --profile  # cProfile of course_lib steps instead of the benchmark

1. course_lib: autograd, nn.Linear, F.cross_entropy, optim.SGD: what a student writes.
2. hand-written NumPy: forward, manual backward and SGD update, float32, in place where it can be (for the CNN:
   im2col with stride tricks, one matmul per convolution, col2im in its backward).
   No autograd engine built on NumPy can beat it, so course_lib / NumPy is the engine's overhead.
3. torch eager on the CPU, with the same number of threads.

Runs are interleaved (round r times a block of steps of every implementation, in rotating order)
so that machine noise and drift hit all three alike. See bench/README.md for how to read the output.

Also timed, against torch only (no hand-written floor): chapter 19's tiny GPT training step with AdamW
(bench/gpt_step.py), target course_lib / torch <= 1.5.
"""
import argparse, contextlib, gc, importlib.util, json, os, pathlib, platform, statistics, sys, time, tracemalloc

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # a fresh clone benchmarks its own course_lib/

SIZES = (784, 256, 256, 10)   # MLP layer widths
LR = 0.01
STRESS_OPS = 200              # tiny element-wise ops in the stress case
STRESS_N = 16                 # elements per tensor in the stress case
IMPLS = ("course_lib", "numpy", "torch")
NOISY = 1.5                   # a workload whose slowest block is this much slower than its fastest is flagged
CNN_BATCH = 64                # the digits LeNet: 1x8x8 images, batch 64 (chapter 14)
TARGETS = {"mlp_b256": 1.25, "mlp_b32": 1.6, "stress_us_per_op": 15.0, "peak_memory_ratio": 1.5, "leak_mb": 5.0,
           "cnn_b64": 1.3, "gpt_b32_t16": 1.5}     # gpt_b32_t16: course_lib/torch, bench/gpt_step.py's TARGET
GPT_KEY = "gpt_b32_t16"       # chapter 19's GPT step: batch 32, context 16


# ----------------------------------------------------------------------------------------------
# Shared inputs: every implementation starts from the same float32 weights and batch.

def init_params(sizes=SIZES, seed=0):
    "[(W, b), ...] like torch's nn.Linear init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); W is (out, in)."
    rng = np.random.default_rng(seed)
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        bound = 1 / np.sqrt(n_in)
        params.append((rng.uniform(-bound, bound, (n_out, n_in)).astype(np.float32),
                       rng.uniform(-bound, bound, n_out).astype(np.float32)))
    return params

def make_batch(n, sizes=SIZES, seed=1):
    "A float32 input batch (n, sizes[0]) and int64 class targets (n,)."
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, sizes[0]), dtype=np.float32),
            rng.integers(0, sizes[-1], n, dtype=np.int64))

def init_cnn_params(seed=3, channels=(1, 16, 32), hidden=64, classes=10, image=8):
    """The digits LeNet's weights, torch's default init ranges: [(W, b)] for conv1 (16, 1, 3, 3), conv2 (32, 16, 3, 3),
    fc1 (64, 128) and fc2 (10, 64). Two 3x3 convolutions (padding 1) and 2x2 max pools take 8x8 to 2x2."""
    rng = np.random.default_rng(seed)
    def layer(shape):
        bound = 1 / np.sqrt(np.prod(shape[1:]))
        return rng.uniform(-bound, bound, shape).astype(np.float32), rng.uniform(-bound, bound, shape[0]).astype(np.float32)
    flat = channels[-1] * (image // 4) ** 2
    return [layer((channels[1], channels[0], 3, 3)), layer((channels[2], channels[1], 3, 3)),
            layer((hidden, flat)), layer((classes, hidden))]

def make_images(n, seed=4, image=8, classes=10):
    "A float32 batch of (n, 1, 8, 8) images in [0, 1] (the digits' range) and int64 class targets."
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, 1, image, image)).astype(np.float32), rng.integers(0, classes, n, dtype=np.int64)

def stress_leaves(n=STRESS_N, seed=2):
    "x, a, b, c: the four float32 leaves of the stress chain (all require grad)."
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(n, dtype=np.float32), rng.uniform(0.5, 1.5, n).astype(np.float32),
            (0.1 * rng.standard_normal(n)).astype(np.float32), (0.1 * rng.standard_normal(n)).astype(np.float32))


# ----------------------------------------------------------------------------------------------
# 1. Hand-written NumPy: the floor. Works with CuPy too (xp=cupy).

class NumpyMLP:
    "Linear-ReLU-Linear-ReLU-Linear + mean cross-entropy, backward by hand, SGD in place."
    def __init__(self, params, lr=LR, xp=np):
        self.xp, self.lr = xp, lr
        self.params = [(xp.asarray(W).copy(), xp.asarray(b).copy()) for W, b in params]

    def prepare(self, x, y): return self.xp.asarray(x), self.xp.asarray(y)

    def step(self, x, y):
        xp, n = self.xp, x.shape[0]
        # forward, keeping each layer's input for the backward pass
        acts, h = [], x
        for i, (W, b) in enumerate(self.params):
            acts.append(h)
            h = h @ W.T          # BLAS reads W transposed in place, no copy
            h += b
            if i < len(self.params) - 1: xp.maximum(h, 0, out=h)   # ReLU in place
        # cross-entropy: log-softmax in place on the logits
        h -= h.max(axis=1, keepdims=True)
        e = xp.exp(h)
        s = e.sum(axis=1, keepdims=True)
        rows = xp.arange(n)
        loss = (xp.log(s[:, 0]) - h[rows, y]).mean()
        # backward: dlogits = (softmax - onehot) / n, computed in e's buffer
        e /= s
        e[rows, y] -= 1
        e *= 1 / n
        g = e
        for i in range(len(self.params) - 1, -1, -1):
            W, b = self.params[i]
            a = acts[i]
            dW, db = g.T @ a, g.sum(axis=0)
            if i > 0:
                g = g @ W
                xp.multiply(g, a > 0, out=g)          # ReLU backward: a is the ReLU output
            dW *= self.lr; W -= dW                    # SGD, no temporaries
            db *= self.lr; b -= db
        return loss

    def weights(self): return [(_to_numpy(W), _to_numpy(b)) for W, b in self.params]


class NumpyStress:
    "y = x; 50 times: y = tanh(y * a + b) - c; then y.sum() backward. Grads of x, a, b, c by hand."
    def __init__(self, leaves, n_ops=STRESS_OPS):
        self.leaves, self.blocks = [l.copy() for l in leaves], n_ops // 4
        self.grads = None

    def step(self):
        x, a, b, c = self.leaves
        ys, ts, y = [], [], x
        for _ in range(self.blocks):
            ys.append(y)
            t = np.tanh(y * a + b)
            ts.append(t)
            y = t - c
        out = y.sum()
        gy = np.ones_like(y)
        ga, gb, gc = np.zeros_like(a), np.zeros_like(b), np.zeros_like(c)
        for i in range(self.blocks - 1, -1, -1):
            gc -= gy
            gv = gy * (1 - ts[i] * ts[i])
            gb += gv
            ga += gv * ys[i]
            gy = gv * a
        self.grads = (gy, ga, gb, gc)
        return out


def _im2col3x3(x, xp=np):
    "(N, C, H, W) -> (N*H*W, C*9): every 3x3 window (padding 1, stride 1) as a row, channel-major like a conv weight row."
    N, C, H, W = x.shape
    xpad = xp.zeros((N, C, H + 2, W + 2), x.dtype)
    xpad[:, :, 1:-1, 1:-1] = x
    win = xp.lib.stride_tricks.sliding_window_view(xpad, (3, 3), axis=(2, 3))   # (N, C, H, W, 3, 3), a view
    return xp.ascontiguousarray(win.transpose(0, 2, 3, 1, 4, 5)).reshape(N * H * W, C * 9)

def _col2im3x3(cols, shape, xp=np):
    "The adjoint of _im2col3x3: add each window's 9 values back onto the pixels they came from (overlaps add up)."
    N, C, H, W = shape
    c = cols.reshape(N, H, W, C, 3, 3)
    out = xp.zeros((N, C, H + 2, W + 2), cols.dtype)
    for i in range(3):
        for j in range(3):
            out[:, :, i:i + H, j:j + W] += c[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return out[:, :, 1:-1, 1:-1]

def _pool2x2(x):
    "2x2 max pooling, stride 2: the output and the position (0-3) of each window's first maximum, like torch."
    N, C, H, W = x.shape
    win = x.reshape(N, C, H // 2, 2, W // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, H // 2, W // 2, 4)
    arg = win.argmax(-1)
    return np.take_along_axis(win, arg[..., None], -1)[..., 0], arg

def _unpool2x2(g, arg):
    "Max pooling's backward: each window's gradient to its winner."
    N, C, h, w = g.shape
    cols = (arg[..., None] == np.arange(4)) * g[..., None]                      # (N, C, h, w, 4)
    return cols.reshape(N, C, h, w, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(N, C, 2 * h, 2 * w)


class NumpyCNN:
    """The digits LeNet by hand: conv3x3-ReLU-maxpool2 twice (im2col: one matmul per conv), Linear-ReLU-Linear, mean
    cross-entropy; backward by hand (col2im for the first conv's input is not needed: the images need no gradient),
    SGD in place. float32 throughout."""
    def __init__(self, params, lr=LR):
        self.lr = lr
        self.params = [(W.copy(), b.copy()) for W, b in params]

    def prepare(self, x, y): return np.asarray(x), np.asarray(y)

    def _conv(self, x, W, b):
        N, _, H, Wd = x.shape
        cols = _im2col3x3(x)
        out = cols @ W.reshape(W.shape[0], -1).T
        out += b
        return out.reshape(N, H, Wd, -1).transpose(0, 3, 1, 2), cols     # (N, O, H, W), a view of (N*H*W, O)

    def step(self, x, y):
        (W1, b1), (W2, b2), (W3, b3), (W4, b4) = self.params
        n = x.shape[0]
        c1, cols1 = self._conv(x, W1, b1); np.maximum(c1, 0, out=c1)
        p1, arg1 = _pool2x2(c1)
        c2, cols2 = self._conv(p1, W2, b2); np.maximum(c2, 0, out=c2)
        p2, arg2 = _pool2x2(c2)
        f = p2.reshape(n, -1)
        h = f @ W3.T; h += b3; np.maximum(h, 0, out=h)
        z = h @ W4.T; z += b4
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = (np.log(s[:, 0]) - z[rows, y]).mean()
        e /= s; e[rows, y] -= 1; e *= 1 / n                                    # dL/dlogits
        grads = [None] * 4
        grads[3] = (e.T @ h, e.sum(0))
        g = e @ W4; g *= h > 0
        grads[2] = (g.T @ f, g.sum(0))
        g = _unpool2x2((g @ W3).reshape(p2.shape), arg2); g *= c2 > 0         # through pool 2 and ReLU 2
        gm = g.transpose(0, 2, 3, 1).reshape(-1, W2.shape[0])                  # (N*H*W, O), rows like cols2
        grads[1] = ((gm.T @ cols2).reshape(W2.shape), gm.sum(0))
        g = _col2im3x3(gm @ W2.reshape(W2.shape[0], -1), p1.shape)             # conv 2's input gradient
        g = _unpool2x2(g, arg1); g *= c1 > 0
        gm = g.transpose(0, 2, 3, 1).reshape(-1, W1.shape[0])
        grads[0] = ((gm.T @ cols1).reshape(W1.shape), gm.sum(0))
        for (W, b), (dW, db) in zip(self.params, grads):
            dW *= self.lr; W -= dW
            db *= self.lr; b -= db
        return loss

    def weights(self): return [(W.copy(), b.copy()) for W, b in self.params]


# ----------------------------------------------------------------------------------------------
# 2. course_lib: what a student writes.

def _cl_core():
    "course_lib itself, imported late so that a missing or broken course_lib only disables its column (`cl.tensor`, `cl.no_grad`)."
    import importlib
    return importlib.import_module("course_lib")

def _course_lib():
    "The course_lib pieces the MLP uses: the front door, nn, nn.functional and optim."
    import importlib
    T = _cl_core()
    return T, importlib.import_module("course_lib.nn"), importlib.import_module("course_lib.nn.functional"), \
        importlib.import_module("course_lib.optim")

def _cl_load(param, array, T):
    "Overwrite a course_lib parameter's values with a NumPy array."
    with T.no_grad():
        param.copy_(T.tensor(array, device=param.device))

class CourseLibMLP:
    def __init__(self, params, lr=LR, device="cpu"):
        T, nn, F, optim = _course_lib()
        self.T, self.F, self.device = T, F, device
        layers = []
        for i, (W, b) in enumerate(params):
            lin = nn.Linear(W.shape[1], W.shape[0])
            if device != "cpu": lin = lin.to(device)
            _cl_load(lin.weight, W, T); _cl_load(lin.bias, b, T)
            layers.append(lin)
            if i < len(params) - 1: layers.append(nn.ReLU())
        self.model = nn.Sequential(*layers)
        self.opt = optim.SGD(self.model.parameters(), lr=lr)

    def prepare(self, x, y):
        return self.T.tensor(x, device=self.device), self.T.tensor(y, device=self.device)

    def step(self, x, y):
        self.opt.zero_grad()
        loss = self.F.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    def weights(self):
        ps = [p.detach().cpu().numpy() for p in self.model.parameters()]
        return list(zip(ps[0::2], ps[1::2]))


def lenet(nn):
    "The digits LeNet of chapter 14, in course_lib (nn = course_lib.nn) or torch (nn = torch.nn)."
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(32 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))

class CourseLibCNN:
    def __init__(self, params, lr=LR, device="cpu"):
        T, nn, F, optim = _course_lib()
        self.T, self.F, self.device = T, F, device
        self.model = lenet(nn)
        for p, a in zip(self.model.parameters(), [a for pair in params for a in pair]): _cl_load(p, a, T)
        self.opt = optim.SGD(self.model.parameters(), lr=lr)
    prepare, step = CourseLibMLP.prepare, CourseLibMLP.step
    def weights(self):
        ps = [p.detach().cpu().numpy() for p in self.model.parameters()]
        return list(zip(ps[0::2], ps[1::2]))


class AutogradStress:
    "The stress step for an autograd library: the same code runs on course_lib and on torch tensors."
    def __init__(self, make_tensor, leaves, n_ops=STRESS_OPS):
        self.leaves = [make_tensor(l, requires_grad=True) for l in leaves]
        self.blocks = n_ops // 4

    def step(self):
        for t in self.leaves: t.grad = None
        x, a, b, c = self.leaves
        y = x
        for _ in range(self.blocks):
            y = (y * a + b).tanh() - c
        out = y.sum()
        out.backward()
        return out

    @property
    def grads(self): return tuple(t.grad.numpy() for t in self.leaves)

def CourseLibStress(leaves, n_ops=STRESS_OPS): return AutogradStress(_cl_core().tensor, leaves, n_ops)


# ----------------------------------------------------------------------------------------------
# 3. torch eager.

class TorchMLP:
    def __init__(self, params, lr=LR, device="cpu"):
        import torch
        self.torch, self.device = torch, device
        layers = []
        for i, (W, b) in enumerate(params):
            lin = torch.nn.Linear(W.shape[1], W.shape[0], device=device)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W)); lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if i < len(params) - 1: layers.append(torch.nn.ReLU())
        self.model = torch.nn.Sequential(*layers)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)

    def prepare(self, x, y):
        return torch_from(x, self.device), torch_from(y, self.device)

    def step(self, x, y):
        self.opt.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(x), y)
        loss.backward()
        self.opt.step()
        return loss

    def weights(self):
        ps = [p.detach().cpu().numpy() for p in self.model.parameters()]
        return list(zip(ps[0::2], ps[1::2]))


class TorchCNN:
    def __init__(self, params, lr=LR, device="cpu"):
        import torch
        self.torch, self.device = torch, device
        self.model = lenet(torch.nn).to(device)
        with torch.no_grad():
            for p, a in zip(self.model.parameters(), [a for pair in params for a in pair]): p.copy_(torch.from_numpy(a))
        self.opt = torch.optim.SGD(self.model.parameters(), lr=lr)
    prepare, step, weights = TorchMLP.prepare, TorchMLP.step, TorchMLP.weights


def TorchStress(leaves, n_ops=STRESS_OPS):
    import torch
    return AutogradStress(torch.tensor, leaves, n_ops)


def torch_from(a, device="cpu"):
    import torch
    return torch.from_numpy(np.ascontiguousarray(a)).to(device)

def _to_numpy(a): return a.get() if hasattr(a, "get") else np.asarray(a)

MLP_CLASSES = {"course_lib": CourseLibMLP, "numpy": NumpyMLP, "torch": TorchMLP}
STRESS_CLASSES = {"course_lib": CourseLibStress, "numpy": NumpyStress, "torch": TorchStress}
CNN_CLASSES = {"course_lib": CourseLibCNN, "numpy": NumpyCNN, "torch": TorchCNN}


# ----------------------------------------------------------------------------------------------
# Timing: interleaved blocks.

def interleaved(fns, rounds, block_s, sync=None, settle_s=0.15):
    """Time each zero-argument function in `fns` ({name: fn}) in `rounds` rounds.
    Each round times one block of k steps of every function (k chosen so a block lasts about
    block_s), in an order that rotates from round to round. Returns {name: [seconds per step, ...]}
    and {name: k}.

    When the block switches between torch and a NumPy-based implementation, wait settle_s first:
    OpenBLAS's idle worker threads keep spinning on a core for about 0.1 s after a NumPy matmul
    (and OpenMP's after a torch op), and would otherwise steal a core from the next block."""
    sync = sync or (lambda: None)
    family = lambda name: "torch" if name == "torch" else "numpy"
    k, prev = {}, None
    for name, fn in fns.items():                     # warm up, then size the blocks
        if prev is not None and family(prev) != family(name): time.sleep(settle_s)
        for _ in range(3): fn()
        sync()
        t0 = time.perf_counter(); fn(); sync()
        one = time.perf_counter() - t0
        k[name], prev = max(1, min(10_000, round(block_s / max(one, 1e-7)))), name
    names, times = list(fns), {name: [] for name in fns}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            if family(prev) != family(name): time.sleep(settle_s)
            fn, n = fns[name], k[name]
            t0 = time.perf_counter()
            for _ in range(n): fn()
            sync()
            times[name].append((time.perf_counter() - t0) / n)
            prev = name
    return times, k

def summarize(ts, steps_per_block):
    return {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts),
            "blocks": len(ts), "steps_per_block": steps_per_block}


# ----------------------------------------------------------------------------------------------
# Memory: peak of one step (tracemalloc) and a leak check (RSS).

def peak_step_memory(build):
    """Peak traced memory (bytes) while taking one training step, counting everything the
    implementation allocated from scratch: weights, the batch, activations, gradients.
    `build()` creates the model and batch and returns a zero-argument step function."""
    gc.collect()
    tracemalloc.start()
    try:
        step = build()
        for _ in range(2): step()        # reach steady state (grads allocated, caches warm)
        gc.collect()
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()

def rss_bytes():
    "Resident set size of this process now, or None where it cannot be read."
    try:
        import psutil
        return psutil.Process().memory_info().rss
    except ImportError:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError):
            return None

def leak_check(step, early, late):
    "RSS (and live Python objects) after `early` steps and after `late` steps."
    for _ in range(early): step()
    gc.collect(); rss0, obj0 = rss_bytes(), len(gc.get_objects())
    for _ in range(late - early): step()
    gc.collect(); rss1, obj1 = rss_bytes(), len(gc.get_objects())
    if rss0 is None:
        return {"skipped": "cannot read this process's RSS (install psutil)"}
    growth = (rss1 - rss0) / 2**20
    return {"steps": [early, late], "rss_mb": [rss0 / 2**20, rss1 / 2**20], "growth_mb": growth,
            "objects": [obj0, obj1], "limit_mb": TARGETS["leak_mb"], "ok": growth <= TARGETS["leak_mb"]}


# ----------------------------------------------------------------------------------------------
# Threads, environment, GPU availability.

@contextlib.contextmanager
def set_threads(n):
    "Pin NumPy's BLAS, torch's intra-op pool and any OpenMP runtime to n threads; restore them afterwards."
    from threadpoolctl import threadpool_limits
    try:
        import torch
    except ImportError:
        torch = None
    before = torch.get_num_threads() if torch else None
    if torch: torch.set_num_threads(n)
    try:
        with threadpool_limits(limits=n):
            yield
    finally:
        if torch: torch.set_num_threads(before)

def thread_report():
    from threadpoolctl import threadpool_info
    pools = [{k: p.get(k) for k in ("user_api", "internal_api", "num_threads", "version")}
             | {"library": os.path.basename(p.get("filepath", ""))} for p in threadpool_info()]
    try:
        import torch
        torch_threads = torch.get_num_threads()
    except ImportError:
        torch_threads = None
    return {"threadpools": pools, "torch_threads": torch_threads}

def available_impls():
    "{name: None if usable else the reason it is skipped}"
    out = {"numpy": None}
    try:
        T, nn, F, optim = _course_lib()
        missing = [name for mod, name in ((nn, "Linear"), (nn, "ReLU"), (nn, "Sequential"), (F, "cross_entropy"),
                                          (optim, "SGD"), (T, "no_grad")) if not hasattr(mod, name)]
        if missing: raise ImportError(f"missing {', '.join(missing)}")
        out["course_lib"] = None
    except Exception as e:                      # the engine is not exported (yet)
        out["course_lib"] = f"course_lib is not importable: {type(e).__name__}: {e}"
    try:
        import torch  # noqa: F401
        out["torch"] = None
    except ImportError:
        out["torch"] = "torch is not installed (pip install -e '.[dev]')"
    return out

def gpu_status():
    "(True, None) when the CUDA workload can run, else (False, reason)."
    try:
        import cupy
    except ImportError:
        return False, "CuPy is not installed (pip install cupy-cuda12x)"
    try:
        if cupy.cuda.runtime.getDeviceCount() == 0:
            return False, "CuPy found no CUDA GPU"
    except Exception as e:
        return False, f"CuPy cannot reach a CUDA GPU ({type(e).__name__}: {e})"
    return True, None

def environment():
    import importlib.metadata as md
    def version(pkg):
        try: return md.version(pkg)
        except md.PackageNotFoundError: return None
    return {"python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "processor": _cpu_name(),
            "cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "numpy": np.__version__, "torch": version("torch"), "course_lib": version("course_lib")}

def _loadavg():
    "The 1-minute load average (None where the OS does not report it): above the CPU count, timings are noisy."
    try: return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError): return None

def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"): return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


# ----------------------------------------------------------------------------------------------
# The benchmark.

def bench_mlp(batch, impls, rounds, block_s, device="cpu", sizes=SIZES, settle_s=0.15):
    params, (x, y) = init_params(sizes), make_batch(batch, sizes)
    fns, sync = {}, None
    for name in impls:
        if name == "numpy" and device != "cpu":
            import cupy
            m = NumpyMLP(params, xp=cupy)
        elif name == "numpy":
            m = NumpyMLP(params)
        else:
            m = MLP_CLASSES[name](params, device=device)
        inputs = m.prepare(x, y)
        fns[name] = (lambda m=m, inputs=inputs: m.step(*inputs))
    if device != "cpu":
        def sync():
            import cupy
            cupy.cuda.Device().synchronize()
            if "torch" in impls:
                import torch
                torch.cuda.synchronize()
    times, k = interleaved(fns, rounds, block_s, sync, settle_s)
    return {name: summarize(times[name], k[name]) for name in fns}

def bench_stress(impls, rounds, block_s, n_ops=STRESS_OPS, settle_s=0.15):
    leaves = stress_leaves()
    fns = {name: STRESS_CLASSES[name](leaves, n_ops).step for name in impls}
    times, k = interleaved(fns, rounds, block_s, settle_s=settle_s)
    out = {name: summarize(times[name], k[name]) for name in fns}
    for s in out.values(): s["us_per_op"] = s["median_s"] / n_ops * 1e6
    return out

def bench_cnn(batch, impls, rounds, block_s, settle_s=0.15):
    params, (x, y) = init_cnn_params(), make_images(batch)
    fns = {}
    for name in impls:
        m = CNN_CLASSES[name](params)
        inputs = m.prepare(x, y)
        fns[name] = (lambda m=m, inputs=inputs: m.step(*inputs))
    times, k = interleaved(fns, rounds, block_s, settle_s=settle_s)
    return {name: summarize(times[name], k[name]) for name in fns}

def gpt_module():
    "bench/gpt_step.py, loaded from its path (tests/test_bench.py loads this file the same way, without bench/ on sys.path)."
    spec = importlib.util.spec_from_file_location("gpt_step", pathlib.Path(__file__).with_name("gpt_step.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

def bench_gpt(rounds, block_s, settle_s=0.15):
    "The tiny GPT's step, course_lib and torch from the same weights and batch (gpt_step.setups), on one thread."
    fns = dict(gpt_module().setups(threads=1))
    times, k = interleaved(fns, rounds, block_s, settle_s=settle_s)
    return {name: summarize(times[name], k[name]) for name in fns}

def ratios(res):
    out = {}
    if "course_lib" in res:
        for other in ("numpy", "torch"):
            if other in res: out[f"course_lib/{other}"] = res["course_lib"]["median_s"] / res[other]["median_s"]
    return out

def _mlp_step_builder(cls, batch, sizes=SIZES):
    def build():
        params, (x, y) = init_params(sizes), make_batch(batch, sizes)
        m = cls(params)
        inputs = m.prepare(x, y)
        del params, x, y               # keep only what the implementation itself holds
        return lambda: m.step(*inputs)
    return build

# What a run does. `make bench` uses "full", `make bench QUICK=1` "quick"; tests/test_bench.py a tiny one.
PLANS = {
    "full":  dict(rounds=25, block_s=0.1, settle_s=0.15, batches=(32, 256, 1024), sizes=SIZES,
                  stress_ops=STRESS_OPS, gpu_batch=4096, leak_steps=(200, 2000), cnn_batch=CNN_BATCH, gpt=True),
    "quick": dict(rounds=7, block_s=0.04, settle_s=0.15, batches=(32, 256, 1024), sizes=SIZES,
                  stress_ops=STRESS_OPS, gpu_batch=4096, leak_steps=(100, 1000), cnn_batch=CNN_BATCH, gpt=True),
}

def run(plan, threads, name="full", log=print):
    "Run every workload of `plan` and return the results as a JSON-ready dict."
    with set_threads(threads):
        return _run(plan, threads, name, log)

def _run(plan, threads, name, log):
    t_start = time.perf_counter()
    rounds, block_s, settle_s, sizes = plan["rounds"], plan["block_s"], plan["settle_s"], plan["sizes"]
    avail = available_impls()
    impls = [n for n in IMPLS if avail[n] is None]
    for n in IMPLS:
        if avail[n]: log(f"skipping {n}: {avail[n]}")

    result = {"plan": name, "environment": environment(), "load_before": _loadavg(), "threads": threads, **thread_report(),
              "settings": {k: v for k, v in plan.items()} | {"lr": LR, "stress_elements": STRESS_N},
              "impls": impls, "skipped": {n: r for n, r in avail.items() if r}, "workloads": {}, "vs_torch": {}}

    for batch in plan["batches"]:
        key = f"mlp_b{batch}"
        log(f"timing {key} ...")
        res = bench_mlp(batch, impls, rounds, block_s, sizes=sizes, settle_s=settle_s)
        result["workloads"][key] = {"kind": "mlp", "batch": batch, "device": "cpu",
                                    "results": res, "ratios": ratios(res)}
    if plan.get("cnn_batch"):
        batch = plan["cnn_batch"]
        log(f"timing cnn_b{batch} (the digits LeNet, one thread) ...")
        with set_threads(1):    # its matrices are tiny (at most 4096x144): extra BLAS/OpenMP threads cost more than they save
            res = bench_cnn(batch, impls, rounds, block_s, settle_s)
        result["workloads"][f"cnn_b{batch}"] = {"kind": "cnn", "batch": batch, "device": "cpu", "threads": 1,
                                               "results": res, "ratios": ratios(res)}
    log("timing stress ...")
    res = bench_stress(impls, rounds, block_s, plan["stress_ops"], settle_s)
    result["workloads"]["stress"] = {"kind": "stress", "ops": plan["stress_ops"], "elements": STRESS_N,
                                     "device": "cpu", "results": res, "ratios": ratios(res)}

    if plan.get("gpt"):     # against torch only: "workloads" are the ones with a hand-written NumPy floor
        if "course_lib" in impls and "torch" in impls:
            log(f"timing {GPT_KEY} (chapter 19's tiny GPT with AdamW, one thread) ...")
            with set_threads(1):    # like gpt_step.py: at these sizes threads cost more than they save, for both
                res = bench_gpt(rounds, block_s, settle_s)
            g = gpt_module()
            result["vs_torch"][GPT_KEY] = {"kind": "gpt", "batch": g.BATCH, "context": g.BLOCK, "device": "cpu", "threads": 1,
                                           "results": res, "ratios": ratios(res), "target": TARGETS[GPT_KEY]}
        else:
            result["skipped"][GPT_KEY] = "needs both course_lib and torch"
            log(f"skipping {GPT_KEY}: it needs both course_lib and torch")

    ok, reason = gpu_status()
    if ok and "course_lib" in impls:
        batch = plan["gpu_batch"]
        log(f"timing mlp_b{batch} on cuda ...")
        gpu_impls = ["course_lib", "numpy"]
        try:
            import torch
            if torch.cuda.is_available(): gpu_impls.append("torch")
            else: log("cuda: this torch has no CUDA, timing course_lib and the CuPy floor only")
        except ImportError:
            pass
        res = bench_mlp(batch, gpu_impls, rounds, block_s, device="cuda", sizes=sizes, settle_s=0)
        result["workloads"][f"mlp_b{batch}_cuda"] = {"kind": "mlp", "batch": batch, "device": "cuda",
                                                     "results": res, "ratios": ratios(res),
                                                     "note": "'numpy' is the same hand-written step on CuPy"}
    else:
        reason = reason or avail["course_lib"]
        log(f"skipping the CUDA workload (MLP batch {plan['gpu_batch']}): {reason}")
        result["skipped"][f"mlp_b{plan['gpu_batch']}_cuda"] = reason

    mem = {}
    if "course_lib" in impls:
        log("measuring peak memory ...")
        for batch in plan["batches"]:
            cl = peak_step_memory(_mlp_step_builder(CourseLibMLP, batch, sizes))
            fl = peak_step_memory(_mlp_step_builder(NumpyMLP, batch, sizes))
            mem[f"mlp_b{batch}"] = {"course_lib_bytes": cl, "numpy_bytes": fl, "ratio": cl / fl}
    result["peak_memory"] = mem

    if "course_lib" in impls:
        early, late = plan["leak_steps"]
        log(f"leak check: {late} course_lib steps (MLP batch 32 + stress chain) ...")
        mlp = CourseLibMLP(init_params(sizes))
        inputs = mlp.prepare(*make_batch(32, sizes))
        stress = CourseLibStress(stress_leaves(), plan["stress_ops"])
        def step():
            mlp.step(*inputs); stress.step()
        result["leak"] = leak_check(step, early, late)
    else:
        result["leak"] = {"skipped": avail["course_lib"]}

    result["targets"] = check_targets(result)
    result["load_after"] = _loadavg()
    result["wall_s"] = time.perf_counter() - t_start
    return result

def check_targets(r):
    w, out = r["workloads"], []
    def add(name, value, limit, unit=""):
        out.append({"target": name, "value": value, "limit": limit,
                    "met": None if value is None else value <= limit, "unit": unit})
    get = lambda key: w.get(key, {}).get("ratios", {}).get("course_lib/numpy")
    add("MLP b=256 course_lib/numpy", get("mlp_b256"), TARGETS["mlp_b256"], "x")
    add("MLP b=32 course_lib/numpy", get("mlp_b32"), TARGETS["mlp_b32"], "x")
    add(f"CNN b={CNN_BATCH} course_lib/numpy", get(f"cnn_b{CNN_BATCH}"), TARGETS["cnn_b64"], "x")
    gpt = r.get("vs_torch", {}).get(GPT_KEY, {}).get("ratios", {}).get("course_lib/torch")
    add("GPT b=32 t=16 course_lib/torch", gpt, TARGETS[GPT_KEY], "x")
    st = w.get("stress", {}).get("results", {}).get("course_lib")
    add("stress: per-op forward+backward", st and st["us_per_op"], TARGETS["stress_us_per_op"], "µs")
    mem = r.get("peak_memory", {}).get("mlp_b256")
    add("peak memory b=256 vs NumPy floor", mem and mem["ratio"], TARGETS["peak_memory_ratio"], "x")
    leak = r.get("leak", {})
    add("leak: RSS growth", leak.get("growth_mb"), TARGETS["leak_mb"], "MB")
    return out


# ----------------------------------------------------------------------------------------------
# Output.

def fmt_time(s):
    if s is None: return "-"
    for unit, scale in (("s", 1), ("ms", 1e-3), ("µs", 1e-6)):
        if s >= scale: return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"

def table(result):
    "The results as text: the timing table, memory, leak check, targets."
    lines = []
    env = result["environment"]
    lines.append(f"course_lib benchmark{' (--quick)' if result['plan'] == 'quick' else ''}: median time per training step "
                 f"[min - max over {result['settings']['rounds']} interleaved blocks]")
    lines.append(f"machine: {env['processor']}, {env['cpus']} CPUs; python {env['python']}, numpy {env['numpy']}, "
                 f"torch {env['torch']}")
    pools = ", ".join(f"{p['internal_api']}{' ' + p['version'] if p['version'] else ''} ({p['user_api']}) "
                      f"{p['num_threads']}" for p in result["threadpools"])
    lines.append(f"threads: {result['threads']} requested; threadpoolctl: {pools}; torch intra-op: {result['torch_threads']}")
    lines.append("")
    impls = result["impls"]
    head = f"{'workload':<20}" + "".join(f"{n:>26}" for n in impls) + f"{'cl/numpy':>10}{'cl/torch':>10}"
    lines += [head, "-" * len(head)]
    timed = result["workloads"] | result.get("vs_torch", {})
    for key, w in timed.items():
        label = {"stress": f"stress {w.get('ops')} ops", GPT_KEY: "GPT b=32 t=16"}.get(
            key, f"{w['kind'].upper()} b={w.get('batch')}" + (" cuda" if w["device"] != "cpu" else ""))
        row = f"{label:<20}"
        for n in impls:
            s = w["results"].get(n)
            cell = "-" if s is None else f"{fmt_time(s['median_s'])} [{fmt_time(s['min_s'])}-{fmt_time(s['max_s'])}]"
            row += f"{cell:>26}"
        for other in ("numpy", "torch"):
            v = w["ratios"].get(f"course_lib/{other}")
            row += f"{'-' if v is None else f'{v:.2f}':>10}"
        lines.append(row)
        if key == "stress":
            per = "  ".join(f"{n}: {s['us_per_op']:.2f} µs" for n, s in w["results"].items())
            lines.append(f"{'  per op (fwd+bwd)':<20}{per}")
    noisy = [f"{key} {n}" for key, w in timed.items() for n, st in w["results"].items()
             if st["max_s"] > NOISY * st["min_s"]]
    if noisy:
        lines.append(f"noisy (slowest block > {NOISY:g}x the fastest): {', '.join(noisy)}; load average "
                     f"{result.get('load_before')} before, {result.get('load_after')} after, on {env['cpus']} CPUs. "
                     f"Rerun on a quiet machine before trusting these ratios.")
    for key, reason in result["skipped"].items():
        lines.append(f"{key}: skipped ({reason})")
    lines.append("")
    for key, m in result.get("peak_memory", {}).items():
        lines.append(f"peak memory, one step, {key}: course_lib {m['course_lib_bytes'] / 2**20:.2f} MB, "
                     f"NumPy floor {m['numpy_bytes'] / 2**20:.2f} MB ({m['ratio']:.2f}x)")
    leak = result.get("leak", {})
    if "skipped" in leak:
        lines.append(f"leak check: skipped ({leak['skipped']})")
    elif leak:
        lines.append(f"leak check: RSS {leak['rss_mb'][0]:.1f} MB after {leak['steps'][0]} steps, "
                     f"{leak['rss_mb'][1]:.1f} MB after {leak['steps'][1]}: {leak['growth_mb']:+.2f} MB "
                     f"({'ok' if leak['ok'] else 'LEAK?'}, limit {leak['limit_mb']:g} MB); live Python objects "
                     f"{leak['objects'][0]} -> {leak['objects'][1]}")
    lines.append("")
    lines.append("targets (measured, not asserted):")
    for t in result.get("targets", []):
        v = "-" if t["value"] is None else f"{t['value']:.2f} {t['unit']}".strip()
        verdict = {True: "met", False: "MISSED", None: "not measured"}[t["met"]]
        lines.append(f"  {t['target']:<36} {v:>10}  (<= {t['limit']:g} {t['unit']})  {verdict}")
    return "\n".join(lines)

def profile(args):
    "cProfile of course_lib training steps: where the time goes."
    with set_threads(args.threads):
        _profile(args)

def _profile(args):
    import cProfile, pstats
    for label, batch in (("MLP b=256", 256), ("MLP b=32", 32)):
        m = CourseLibMLP(init_params())
        inputs = m.prepare(*make_batch(batch))
        for _ in range(5): m.step(*inputs)
        n = 200 if batch == 32 else 50
        pr = cProfile.Profile()
        pr.enable()
        for _ in range(n): m.step(*inputs)
        pr.disable()
        print(f"\n=== {label}: {n} steps, sorted by own time ===")
        pstats.Stats(pr).sort_stats("tottime").print_stats(args.top)
    s = CourseLibStress(stress_leaves())
    for _ in range(5): s.step()
    pr = cProfile.Profile()
    pr.enable()
    for _ in range(100): s.step()
    pr.disable()
    print(f"\n=== stress ({STRESS_OPS} ops): 100 steps, sorted by own time ===")
    pstats.Stats(pr).sort_stats("tottime").print_stats(args.top)

def main(argv=None):
    default_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="short run (under 30 s)")
    p.add_argument("--json", default=str(ROOT / "bench/results/latest.json"), help="where to write the results")
    p.add_argument("--threads", type=int, default=default_threads, help="threads for BLAS and torch (default: all CPUs)")
    p.add_argument("--profile", action="store_true", help="print a cProfile of course_lib steps instead")
    p.add_argument("--top", type=int, default=25, help="rows of the profile to print")
    args = p.parse_args(argv)
    if args.profile:
        return profile(args)
    import warnings
    warnings.filterwarnings("ignore", message=".*NumPy.*")   # torch's notices about the NumPy version
    name = "quick" if args.quick else "full"
    result = run(PLANS[name], args.threads, name, log=lambda msg: print(msg, flush=True))
    print()
    print(table(result))
    path = pathlib.Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=float) + "\n")
    print(f"\nwrote {path} ({result['wall_s']:.0f} s)")

if __name__ == "__main__":
    main()
