"""course_lib.check: every checker accepts its reference solution and rejects typical wrong answers.

SOLUTIONS holds one right answer per checker (the notebooks' solution cells hold the same ones, and nbval runs them);
MISTAKES holds, per checker, at least two wrong answers a student typically writes. Test ids name the checker and the
mistake, e.g. `test_rejects[sigmoid_backward-forgets_grad]`. The checkers' one reference is course_lib's own (itself
tested against torch in the other suites), so there is no torch / no-torch split to run twice.
Also: the exercises list agrees with the exercise headings in the notebooks.
"""
import json, math, re, pathlib
import numpy as np
import pytest

import course_lib as cl
from course_lib import check

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- chapter 1
def tensor_nbytes(shape, dtype): return math.prod(shape) * dtype.itemsize

def promote(a, b):
    if a._category != b._category: return a if a._category > b._category else b
    from course_lib._dtype import _NP2DT
    return _NP2DT[np.promote_types(a.np, b.np)]

def sgd_update_(w, lr):
    with cl.no_grad(): w.sub_(w.grad, alpha=lr)

def _numbers(d):
    if isinstance(d, (list, tuple)):
        for x in d: yield from _numbers(x)
    else: yield d

def infer_dtype(data):
    xs = list(_numbers(data))
    if xs and all(isinstance(x, bool) for x in xs): return cl.bool
    if xs and all(isinstance(x, int) for x in xs): return cl.int64
    return cl.get_default_dtype()

def _infer_like_numpy(data):   # NumPy's default float is float64
    from course_lib._dtype import _NP2DT
    return _NP2DT[np.asarray(data).dtype]

def _infer_first_only(data):   # looks at the first number only
    while isinstance(data, (list, tuple)) and data: data = data[0]
    return cl.bool if isinstance(data, bool) else cl.int64 if isinstance(data, int) else cl.float32

def arange_length(start, end, step): return math.ceil((end - start) / step)

# ---------------------------------------------------------------- chapter 2
def _sig(x): return np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))), np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))

def sigmoid_backward(x, grad):
    s = _sig(x)
    return grad * s * (1 - s)

class Tanh(cl.autograd.Function):      # torch's contract: forward and backward see Tensors (chapter 11)
    @staticmethod
    def forward(ctx, a):
        out = a.tanh(); ctx.save_for_backward(out); return out
    @staticmethod
    def backward(ctx, g):
        out, = ctx.saved_tensors; return g * (1 - out * out)

def topo_order(root):
    order, seen, stack = [], set(), [(root, False)]
    while stack:
        t, done = stack.pop()
        if done: order.append(t); continue
        if id(t) in seen: continue
        seen.add(id(t)); stack.append((t, True))
        if t.grad_fn is not None:
            stack.extend((p, False) for p in t.grad_fn.inputs if isinstance(p, cl.Tensor) and p.requires_grad)
    return order

def div_backward(a, b, grad): return grad / b, -grad * a / (b * b)

# ---------------------------------------------------------------- chapter 3
def broadcast_shape(s1, s2):
    n = max(len(s1), len(s2))
    a, b = (1,) * (n - len(s1)) + tuple(s1), (1,) * (n - len(s2)) + tuple(s2)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y): raise RuntimeError(f"shapes {s1} and {s2} are not broadcastable")
        out.append(y if x == 1 else x)
    return tuple(out)

def unbroadcast(grad, shape):
    lead = grad.ndim - len(shape)
    grad = grad.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    return grad.sum(axis=axes, keepdims=True).reshape(shape)

def mul_backward(a, b, grad): return unbroadcast(grad * b, a.shape), unbroadcast(grad * a, np.shape(b))

# ---------------------------------------------------------------- chapter 4
def matmul_backward(a, b, grad): return grad @ b.T, a.T @ grad

def mean_backward(grad, shape, dim, keepdim):
    n = math.prod(shape) if dim is None else shape[dim]
    if dim is not None and not keepdim: grad = np.expand_dims(grad, dim)
    return np.broadcast_to(grad / n, shape).copy()

def softmax(x, dim):
    z = np.exp(x - x.max(dim, keepdims=True))
    return z / z.sum(dim, keepdims=True)

def softmax_backward(s, grad, dim): return s * (grad - (grad * s).sum(dim, keepdims=True))

def index_backward(shape, idx, grad):
    out = np.zeros(shape); np.add.at(out, idx, grad); return out

# ---------------------------------------------------------------- chapter 5
def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))

def cross_entropy(logits, target): return -log_softmax(logits)[np.arange(len(target)), target].mean()

def cross_entropy_backward(logits, target):
    g = np.exp(log_softmax(logits)); g[np.arange(len(target)), target] -= 1
    return g / len(target)

# ---------------------------------------------------------------- chapter 6
def numerical_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps; fp = f(x)
        x[i] = old - eps; fm = f(x)
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g

def jacobian(f, x, eps=1e-6):
    cols = []
    for j in range(x.size):
        old = x[j]
        x[j] = old + eps; fp = f(x)
        x[j] = old - eps; fm = f(x)
        x[j] = old
        cols.append((fp - fm) / (2 * eps))
    return np.stack(cols, axis=1)

def my_gradcheck(f, grad_f, x, atol=1e-5, rtol=1e-3):
    num, ana = numerical_grad(f, x.astype(np.float64)), grad_f(x)
    return bool(np.all(np.abs(ana - num) <= atol + rtol * np.abs(num)))

# ---------------------------------------------------------------- chapter 7
def linear(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias

def count_parameters(model): return sum(p.numel() for p in model.parameters())

def init_linear_(layer):
    bound = 1 / math.sqrt(layer.weight.shape[1])
    cl.nn.init.uniform_(layer.weight, -bound, bound)
    if layer.bias is not None: cl.nn.init.uniform_(layer.bias, -bound, bound)

def _init_fan_out(layer):
    bound = 1 / math.sqrt(layer.weight.shape[0])
    for p in layer.parameters(): cl.nn.init.uniform_(p, -bound, bound)

def _init_normal(layer):
    bound = 1 / math.sqrt(layer.weight.shape[1])
    for p in layer.parameters(): cl.nn.init.normal_(p, 0.0, bound)

def _init_weight_only(layer):
    bound = 1 / math.sqrt(layer.weight.shape[1])
    cl.nn.init.uniform_(layer.weight, -bound, bound)

def _init_replaces(layer):
    nn = cl.nn
    bound = 1 / math.sqrt(layer.weight.shape[1])
    layer.weight = nn.Parameter(cl.rand(*layer.weight.shape) * 2 * bound - bound)
    if layer.bias is not None: layer.bias = nn.Parameter(cl.rand(*layer.bias.shape) * 2 * bound - bound)

def dropout(x, p, training):
    if not training or p == 0: return x
    if p == 1: return x * 0.0
    keep = cl.rand_like(x) >= p
    return x * (keep.to(x.dtype) * (1.0 / (1 - p)))

# ---------------------------------------------------------------- chapter 8
def sgd_momentum_step(p, g, buf, lr, momentum, dampening=0.0):
    buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
    return p - lr * buf, buf

def adam_step(p, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    b1, b2 = betas
    m = b1 * m + (1 - b1) * g
    v = b2 * v + (1 - b2) * g * g
    m_hat, v_hat = m / (1 - b1 ** t), v / (1 - b2 ** t)
    return p - lr * m_hat / (np.sqrt(v_hat) + eps), m, v

def _make_rmsprop(inside_sqrt=False, no_grad=True, keep_state=True):
    Optimizer = cl.optim.Optimizer
    class RMSprop(Optimizer):
        def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8):
            super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps))
        def _step(self):
            for group in self.param_groups:
                lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
                for p in group["params"]:
                    if p.grad is None: continue
                    state = self.state[p]
                    if "square_avg" not in state or not keep_state: state["square_avg"] = cl.zeros_like(p)
                    v = state["square_avg"]
                    v.mul_(alpha).addcmul_(p.grad, p.grad, value=1 - alpha)
                    denom = (v + eps).sqrt() if inside_sqrt else v.sqrt() + eps
                    p.addcdiv_(p.grad, denom, value=-lr)
        def step(self):
            if not no_grad: return self._step()
            with cl.no_grad(): return self._step()
    return RMSprop

# ---------------------------------------------------------------- chapter 9
def batch_indices(n, batch_size, shuffle=False, seed=0):
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]

def accuracy(logits, y): return (logits.argmax(1) == y).float().mean().item()

def train_step(model, opt, loss_fn, xb, yb):
    loss = loss_fn(model(xb), yb)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()

# ---------------------------------------------------------------- chapter 10
def apply_to_tensors(obj, fn):
    if isinstance(obj, cl.Tensor): return fn(obj)
    if isinstance(obj, dict): return {k: apply_to_tensors(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)): return type(obj)(apply_to_tensors(v, fn) for v in obj)
    return obj

def check_same_device(*tensors):
    for t in tensors[1:]:
        if t.device != tensors[0].device:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, "
                               f"{tensors[0].device} and {t.device}!")

def matmul_flops(m, k, n, backward=False): return (6 if backward else 2) * m * k * n

# ---------------------------------------------------------------- chapter 11
class Softplus(cl.autograd.Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.clamp(min=0) + (-a.abs()).exp().log1p()
    @staticmethod
    def backward(ctx, g):
        a, = ctx.saved_tensors
        return g * a.sigmoid()


# ---------------------------------------------------------------- chapter 13
def conv2d_loops(x, w, b, stride, padding):
    N, C, H, W = x.shape
    O, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    Ho, Wo = (H + 2 * padding - kh) // stride + 1, (W + 2 * padding - kw) // stride + 1
    out = np.zeros((N, O, Ho, Wo))
    for n in range(N):
        for o in range(O):
            for i in range(Ho):
                for j in range(Wo):
                    out[n, o, i, j] = (xp[n, :, i * stride:i * stride + kh, j * stride:j * stride + kw] * w[o]).sum() + b[o]
    return out

def _conv_flipped(x, w, b, stride, padding): return conv2d_loops(x, w[:, :, ::-1, ::-1], b, stride, padding)
def _conv_no_bias(x, w, b, stride, padding): return conv2d_loops(x, w, np.zeros_like(b), stride, padding)
def _conv_pad_one_side(x, w, b, stride, padding):
    p = ((0, 0), (0, 0), (padding, 0), (padding, 0))
    return conv2d_loops(np.pad(x, p), w, b, stride, 0)

def col2im(cols, x_shape, stride):
    N, C, Ho, Wo, kh, kw = cols.shape
    sh, sw = stride
    out = np.zeros(x_shape)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += cols[:, :, i, j]
    return out

def _col2im_assigns(cols, x_shape, stride):
    N, C, Ho, Wo, kh, kw = cols.shape
    out = np.zeros(x_shape)
    for i in range(Ho):
        for j in range(Wo):
            out[:, :, i * stride[0]:i * stride[0] + kh, j * stride[1]:j * stride[1] + kw] = cols[:, :, i, j]   # overwrites overlaps
    return out

def _col2im_stride_one(cols, x_shape, stride): return col2im(cols, x_shape, (1, 1))
def _pool_backward(x, grad, k, s, pick):
    N, C, Ho, Wo = grad.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            win = x[:, :, i * s:i * s + k, j * s:j * s + k]
            dx[:, :, i * s:i * s + k, j * s:j * s + k] += pick(win) * grad[:, :, i, j][..., None, None]
    return dx

def _first_max(win):
    flat = win.reshape(*win.shape[:2], -1)
    return (np.arange(flat.shape[-1]) == flat.argmax(-1)[..., None]).reshape(win.shape)

def max_pool_backward(x, grad, kernel_size, stride): return _pool_backward(x, grad, kernel_size, stride, _first_max)
def _pool_all_ties(x, grad, k, s): return _pool_backward(x, grad, k, s, lambda w: w == w.max((2, 3), keepdims=True))
def _pool_last_tie(x, grad, k, s): return _pool_backward(x, grad, k, s, lambda w: _first_max(w[:, :, ::-1, ::-1])[:, :, ::-1, ::-1])
def _pool_shared_ties(x, grad, k, s):
    m = lambda w: w == w.max((2, 3), keepdims=True)
    return _pool_backward(x, grad, k, s, lambda w: m(w) / m(w).sum((2, 3), keepdims=True))
def _pool_assigns(x, grad, k, s):
    N, C, Ho, Wo = grad.shape
    dx = np.zeros_like(x)
    for i in range(Ho):
        for j in range(Wo):
            sl = (slice(None), slice(None), slice(i * s, i * s + k), slice(j * s, j * s + k))
            dx[sl] = np.where(_first_max(x[sl]), grad[:, :, i, j][..., None, None], dx[sl])   # overwrites instead of adding
    return dx

# ---------------------------------------------------------------- chapter 14
def conv_output_shape(shape, out_channels, kernel_size, stride, padding, dilation):
    N, C, H, W = shape
    size = lambda n: (n + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1
    return (N, out_channels, size(H), size(W))

def _shape_mistake(f):
    def fn(shape, out_channels, kernel_size, stride, padding, dilation):
        return (shape[0], out_channels, f(shape[2], kernel_size, stride, padding, dilation), f(shape[3], kernel_size, stride, padding, dilation))
    return fn

def confusion_matrix(pred, target, num_classes):
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(m, (target, pred), 1)
    return m

def _confusion_fancy(pred, target, num_classes):
    m = np.zeros((num_classes, num_classes), dtype=np.int64)
    m[target, pred] += 1          # a repeated (target, pred) pair is counted once
    return m

def evaluate(model, X, y, batch_size):
    model.eval()
    correct = 0
    with cl.no_grad():
        for i in range(0, len(X), batch_size):
            correct += (model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item()
    model.train()
    return correct / len(X)

def _eval_no_eval(model, X, y, batch_size):
    with cl.no_grad():
        correct = sum((model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum().item() for i in range(0, len(X), batch_size))
    return correct / len(X)

def _eval_batch_means(model, X, y, batch_size):
    model.eval()
    with cl.no_grad():
        accs = [(model(X[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).float().mean().item() for i in range(0, len(X), batch_size)]
    model.train()
    return sum(accs) / len(accs)

def _eval_stays_eval(model, X, y, batch_size):
    r = evaluate(model, X, y, batch_size); model.eval(); return r

# ---------------------------------------------------------------- chapter 15
def _bn_axes(x): return (0,) + tuple(range(2, x.ndim))
def _per_channel(v, x): return v.reshape((1, -1) + (1,) * (x.ndim - 2))

def batch_norm_forward(x, gamma, beta, eps):
    ax = _bn_axes(x)
    xhat = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    return _per_channel(gamma, x) * xhat + _per_channel(beta, x)

def _bn_unbiased(x, gamma, beta, eps):
    ax = _bn_axes(x)
    xhat = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True, ddof=1) + eps)
    return _per_channel(gamma, x) * xhat + _per_channel(beta, x)

def _bn_wrong_axis(x, gamma, beta, eps):
    ax = tuple(range(1, x.ndim))                      # each sample's statistics: that is layer norm
    xhat = (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + eps)
    return _per_channel(gamma, x) * xhat + _per_channel(beta, x)

def _bn_eps_outside(x, gamma, beta, eps):
    ax = _bn_axes(x)
    xhat = (x - x.mean(ax, keepdims=True)) / (np.sqrt(x.var(ax, keepdims=True)) + eps)
    return _per_channel(gamma, x) * xhat + _per_channel(beta, x)

def _bn_parts(x, gamma, grad, eps):
    ax = _bn_axes(x)
    s = np.sqrt(x.var(ax, keepdims=True) + eps)
    xhat = (x - x.mean(ax, keepdims=True)) / s
    return ax, s, xhat, grad * _per_channel(gamma, x)

def batch_norm_backward(x, gamma, grad, eps):
    ax, s, xhat, gh = _bn_parts(x, gamma, grad, eps)
    dx = (gh - gh.mean(ax, keepdims=True) - xhat * (gh * xhat).mean(ax, keepdims=True)) / s
    return dx, (grad * xhat).sum(ax), grad.sum(ax)

def _bnb_forgets_mean_and_var(x, gamma, grad, eps):
    ax, s, xhat, gh = _bn_parts(x, gamma, grad, eps)
    return gh / s, (grad * xhat).sum(ax), grad.sum(ax)          # what eval mode's backward is: mean and var as constants

def _bnb_forgets_var(x, gamma, grad, eps):
    ax, s, xhat, gh = _bn_parts(x, gamma, grad, eps)
    return (gh - gh.mean(ax, keepdims=True)) / s, (grad * xhat).sum(ax), grad.sum(ax)

def _bnb_dgamma_without_xhat(x, gamma, grad, eps):
    dx, _, db = batch_norm_backward(x, gamma, grad, eps)
    return dx, grad.sum(_bn_axes(x)), db

def running_stats(running_mean, running_var, x, momentum):
    ax = _bn_axes(x)
    m = x.size // x.shape[1]
    return ((1 - momentum) * running_mean + momentum * x.mean(ax),
            (1 - momentum) * running_var + momentum * x.var(ax) * m / (m - 1))

def _stats_biased(running_mean, running_var, x, momentum):
    ax = _bn_axes(x)
    return (1 - momentum) * running_mean + momentum * x.mean(ax), (1 - momentum) * running_var + momentum * x.var(ax)

def _stats_swapped(running_mean, running_var, x, momentum): return running_stats(running_mean, running_var, x, 1 - momentum)
def _stats_replaces(running_mean, running_var, x, momentum): return running_stats(running_mean, running_var, x, 1.0)


SOLUTIONS = {
    "tensor_nbytes": tensor_nbytes, "infer_dtype": infer_dtype, "arange_length": arange_length,
    "promote": promote, "sgd_update_": sgd_update_,
    "sigmoid_backward": sigmoid_backward, "tanh_function": Tanh, "topo_order": topo_order, "div_backward": div_backward,
    "broadcast_shape": broadcast_shape, "unbroadcast": unbroadcast, "mul_backward": mul_backward,
    "matmul_backward": matmul_backward, "mean_backward": mean_backward, "softmax": softmax,
    "softmax_backward": softmax_backward, "index_backward": index_backward,
    "log_softmax": log_softmax, "cross_entropy": cross_entropy, "cross_entropy_backward": cross_entropy_backward,
    "numerical_grad": numerical_grad, "jacobian": jacobian, "my_gradcheck": my_gradcheck,
    "linear": linear, "count_parameters": count_parameters, "init_linear_": init_linear_, "dropout": dropout,
    "sgd_momentum_step": sgd_momentum_step, "adam_step": adam_step, "rmsprop": lambda: _make_rmsprop(),
    "batch_indices": batch_indices, "accuracy": accuracy, "train_step": train_step,
    "apply_to_tensors": apply_to_tensors, "check_same_device": check_same_device, "matmul_flops": matmul_flops,
    "softplus_function": Softplus,
    "conv2d_loops": conv2d_loops, "col2im": col2im, "max_pool_backward": max_pool_backward,
    "conv_output_shape": conv_output_shape, "confusion_matrix": confusion_matrix, "evaluate": evaluate,
    "batch_norm_forward": batch_norm_forward, "batch_norm_backward": batch_norm_backward, "running_stats": running_stats,
}
LAZY = {"rmsprop"}   # built on first use (needs course_lib.optim)


# ---------------------------------------------------------------- typical wrong answers
def _fn_class(forward, backward):
    "A course_lib Function class from two plain functions."
    return type("Wrong", (cl.autograd.Function,), {"forward": staticmethod(forward), "backward": staticmethod(backward)})

def _save_out(f):
    def fwd(ctx, a):
        out = f(a); ctx.save_for_backward(a, out); return out
    return fwd

def _recursive_topo(root):
    order, seen = [], set()
    def visit(t):
        if id(t) in seen: return
        seen.add(id(t))
        if t.grad_fn is not None:
            for p in t.grad_fn.inputs:
                if isinstance(p, cl.Tensor) and p.requires_grad: visit(p)
        order.append(t)
    visit(root)
    return order

def _no_dedup_topo(root):
    order = []
    def visit(t):
        if t.grad_fn is not None:
            for p in t.grad_fn.inputs:
                if isinstance(p, cl.Tensor) and p.requires_grad: visit(p)
        order.append(t)
    stack = [(root, False)]
    while stack:   # iterative post-order without a `seen` set: shared tensors come out several times
        t, done = stack.pop()
        if done: order.append(t); continue
        stack.append((t, True))
        if t.grad_fn is not None:
            stack.extend((p, False) for p in t.grad_fn.inputs if isinstance(p, cl.Tensor) and p.requires_grad)
    return order

def _left_aligned(s1, s2):
    n = max(len(s1), len(s2))
    a, b = tuple(s1) + (1,) * (n - len(s1)), tuple(s2) + (1,) * (n - len(s2))
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y): raise RuntimeError("not broadcastable")
    return tuple(y if x == 1 else x for x, y in zip(a, b))

def _no_restore_grad(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps; fp = f(x)
        x[i] -= 2 * eps; fm = f(x)
        g[i] = (fp - fm) / (2 * eps)
    return g

def _one_sided(f, x, eps=1e-6):
    g, f0 = np.zeros_like(x), f(x)
    for i in np.ndindex(x.shape):
        old = x[i]; x[i] = old + eps; g[i] = (f(x) - f0) / eps; x[i] = old
    return g

def _dropout_keeps_p(x, p, training):
    if not training: return x
    return x * (cl.rand_like(x) < p) / (1 - p)

def _adam_no_correction(p, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v

def _adam_eps_inside(p, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * g * g
    return p - lr * (m / (1 - betas[0] ** t)) / np.sqrt(v / (1 - betas[1] ** t) + eps), m, v

def _adam_abs_g(p, g, m, v, t, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    m = betas[0] * m + (1 - betas[0]) * g
    v = betas[1] * v + (1 - betas[1]) * np.abs(g)
    return p - lr * (m / (1 - betas[0] ** t)) / (np.sqrt(v / (1 - betas[1] ** t)) + eps), m, v

def _sgd_wrong_sign(w, lr):
    with cl.no_grad(): w.add_(w.grad, alpha=lr)

def _train_no_zero_grad(model, opt, loss_fn, xb, yb):
    loss = loss_fn(model(xb), yb); loss.backward(); opt.step(); return loss.item()

def _train_zero_after_backward(model, opt, loss_fn, xb, yb):
    loss = loss_fn(model(xb), yb); loss.backward(); opt.zero_grad(); opt.step(); return loss.item()

def _train_step_first(model, opt, loss_fn, xb, yb):
    loss = loss_fn(model(xb), yb); opt.zero_grad(); opt.step(); loss.backward(); return loss.item()

def _apply_no_dicts(obj, fn):
    if isinstance(obj, cl.Tensor): return fn(obj)
    if isinstance(obj, (list, tuple)): return type(obj)(_apply_no_dicts(v, fn) for v in obj)
    return obj

def _apply_lists(obj, fn):
    if isinstance(obj, cl.Tensor): return fn(obj)
    if isinstance(obj, dict): return {k: _apply_lists(v, fn) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)): return [_apply_lists(v, fn) for v in obj]
    return obj

def _apply_flat(obj, fn):
    if isinstance(obj, cl.Tensor): return fn(obj)
    if isinstance(obj, dict): return {k: fn(v) if isinstance(v, cl.Tensor) else v for k, v in obj.items()}
    if isinstance(obj, (list, tuple)): return type(obj)(fn(v) if isinstance(v, cl.Tensor) else v for v in obj)
    return obj

def _same_device_type_only(*ts):
    for t in ts[1:]:
        if t.device.type != ts[0].device.type:
            raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, {ts[0].device} and {t.device}!")

def _same_device_first_two(*ts):
    if len(ts) >= 2 and ts[0].device != ts[1].device:
        raise RuntimeError(f"Expected all tensors to be on the same device, but found at least two devices, {ts[0].device} and {ts[1].device}!")

def _same_device_flag(*ts): return all(t.device == ts[0].device for t in ts)

def _softplus_naive_fwd(ctx, a):
    ctx.save_for_backward(a); return (1 + a.exp()).log()

def _softplus_bwd_sig(ctx, g):
    a, = ctx.saved_tensors; return g * a.sigmoid()

def _softplus_stable(a): return a.clamp(min=0) + (-a.abs()).exp().log1p()

def _tanh_fwd(ctx, a):
    out = a.tanh(); ctx.save_for_backward(a, out); return out


MISTAKES = {
    "infer_dtype": {
        "like_numpy": _infer_like_numpy,
        "first_number_only": _infer_first_only,
        "empty_is_int": lambda data: cl.int64 if data == [] else infer_dtype(data),
    },
    "arange_length": {
        "rounds_down": lambda start, end, step: math.floor((end - start) / step),
        "includes_end": lambda start, end, step: int((end - start) / step) + 1,
        "python_range": lambda start, end, step: len(range(start, end, step)),
    },
    "tensor_nbytes": {
        "numel_only": lambda shape, dtype: math.prod(shape),
        "assumes_4_bytes": lambda shape, dtype: 4 * math.prod(shape),
        "sum_of_sizes": lambda shape, dtype: sum(shape) * dtype.itemsize,
    },
    "promote": {
        "wider_wins": lambda a, b: a if a.itemsize >= b.itemsize else b,
        "first_wins": lambda a, b: a,
        "always_float32": lambda a, b: cl.float32 if (a.is_floating_point or b.is_floating_point) else promote(a, b),
    },
    "sgd_update_": {
        "wrong_sign": _sgd_wrong_sign,
        "out_of_place": lambda w, lr: w.detach() - lr * w.grad,
        "no_no_grad": lambda w, lr: w.sub_(w.grad, alpha=lr),
    },
    "sigmoid_backward": {
        "forgets_grad": lambda x, grad: _sig(x) * (1 - _sig(x)),
        "wrong_sign": lambda x, grad: grad * _sig(x) * (_sig(x) - 1),
        "uses_x_not_sigmoid": lambda x, grad: grad * x * (1 - x),
    },
    "tanh_function": {
        "backward_uses_input": _fn_class(_tanh_fwd, lambda ctx, g: g * (1 - ctx.saved_tensors[0] ** 2)),
        "forgets_grad_output": _fn_class(_tanh_fwd, lambda ctx, g: 1 - ctx.saved_tensors[1] ** 2),
        "wrong_sign": _fn_class(_tanh_fwd, lambda ctx, g: g * (ctx.saved_tensors[1] ** 2 - 1)),
    },
    "topo_order": {
        "preorder": lambda root: list(reversed(topo_order(root))),
        "no_dedup": _no_dedup_topo,
        "recursive": _recursive_topo,
    },
    "div_backward": {
        "db_wrong_sign": lambda a, b, g: (g / b, g * a / b ** 2),
        "db_missing_a": lambda a, b, g: (g / b, -g / b ** 2),
        "da_times_b": lambda a, b, g: (g * b, -g * a / b ** 2),
    },
    "broadcast_shape": {
        "aligns_left": _left_aligned,
        "never_raises": lambda s1, s2: tuple(max(x, y) for x, y in zip((1,) * (max(len(s1), len(s2)) - len(s1)) + tuple(s1),
                                                                       (1,) * (max(len(s1), len(s2)) - len(s2)) + tuple(s2))),
    },
    "unbroadcast": {
        "no_keepdims": lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape))) + tuple(
            g.ndim - len(shape) + i for i, n in enumerate(shape) if n == 1 and g.shape[g.ndim - len(shape) + i] != 1)),
        "leading_only": lambda g, shape: g.sum(axis=tuple(range(g.ndim - len(shape)))),
        "mean_not_sum": lambda g, shape: np.broadcast_to(g.mean(axis=tuple(range(g.ndim - len(shape)))), g.shape[g.ndim - len(shape):]).mean(
            axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape),
    },
    "mul_backward": {
        "no_unbroadcast": lambda a, b, g: (g * b, g * a),
        "swapped": lambda a, b, g: (unbroadcast(g * a, a.shape), unbroadcast(g * b, np.shape(b))),
    },
    "matmul_backward": {
        "no_transpose": lambda a, b, g: (g @ b, a @ g),
        "swapped_order": lambda a, b, g: (b.T @ g.T, g.T @ a),
        "forgets_grad": lambda a, b, g: (np.ones_like(g) @ b.T, a.T @ np.ones_like(g)),
    },
    "mean_backward": {
        "sum_backward": lambda g, shape, dim, keepdim: mean_backward(g, shape, dim, keepdim) * (math.prod(shape) if dim is None else shape[dim]),
        "no_unsqueeze": lambda g, shape, dim, keepdim: np.broadcast_to(g / (math.prod(shape) if dim is None else shape[dim]), shape).copy(),
        "divides_by_numel": lambda g, shape, dim, keepdim: mean_backward(g, shape, dim, keepdim) * (1 if dim is None else shape[dim]) / math.prod(shape),
    },
    "softmax": {
        "unstable": lambda x, dim: np.exp(x) / np.exp(x).sum(dim, keepdims=True),
        "normalizes_everything": lambda x, dim: np.exp(x - x.max()) / np.exp(x - x.max()).sum(),
        "no_keepdims": lambda x, dim: (np.exp(x - x.max(dim)) / np.exp(x - x.max(dim)).sum(dim)),
    },
    "softmax_backward": {
        "diagonal_only": lambda s, g, dim: g * s * (1 - s),
        "no_keepdims": lambda s, g, dim: s * (g - (g * s).sum(dim)),
        "sums_everything": lambda s, g, dim: s * (g - (g * s).sum()),
    },
    "index_backward": {
        "assignment": lambda shape, idx, g: (lambda out: (out.__setitem__(idx, g), out)[1])(np.zeros(shape)),
        "plus_equals": lambda shape, idx, g: (lambda out: (out.__setitem__(idx, out[idx] + g), out)[1])(np.zeros(shape)),
    },
    "log_softmax": {
        "log_of_softmax": lambda x: np.log(softmax(x, -1)),
        "no_max_shift": lambda x: x - np.log(np.exp(x).sum(-1, keepdims=True)),
        "sum_without_keepdims": lambda x: x - x.max(-1) - np.log(np.exp(x - x.max(-1)).sum(-1)),
    },
    "cross_entropy": {
        "sum_not_mean": lambda l, t: -log_softmax(l)[np.arange(len(t)), t].sum(),
        "forgets_minus": lambda l, t: log_softmax(l)[np.arange(len(t)), t].mean(),
        "no_log": lambda l, t: -softmax(l, -1)[np.arange(len(t)), t].mean(),
    },
    "cross_entropy_backward": {
        "forgets_mean": lambda l, t: cross_entropy_backward(l, t) * len(t),
        "wrong_sign": lambda l, t: -cross_entropy_backward(l, t),
        "forgets_onehot": lambda l, t: softmax(l, -1) / len(t),
    },
    "numerical_grad": {
        "forward_difference": _one_sided,
        "divides_by_eps": lambda f, x, eps=1e-6: 2 * numerical_grad(f, x, eps),
        "no_restore": _no_restore_grad,
    },
    "jacobian": {
        "transposed": lambda f, x, eps=1e-6: jacobian(f, x, eps).T,
        "divides_by_eps": lambda f, x, eps=1e-6: 2 * jacobian(f, x, eps),
        "one_sided": lambda f, x, eps=1e-6: np.stack([(f(x + eps * e) - f(x)) / eps for e in np.eye(x.size)], axis=1),
    },
    "my_gradcheck": {
        "always_true": lambda f, grad_f, x: True,
        "first_element_only": lambda f, grad_f, x: bool(abs(grad_f(x)[0] - numerical_grad(f, x.copy())[0]) <= 1e-5 + 1e-3 * abs(numerical_grad(f, x.copy())[0])),
        "loose_tolerance": lambda f, grad_f, x: my_gradcheck(f, grad_f, x, atol=0.1, rtol=0.0),
        "exact_equality": lambda f, grad_f, x: bool(np.array_equal(grad_f(x), numerical_grad(f, x.copy()))),
    },
    "linear": {
        "no_transpose": lambda x, w, b=None: x @ w + (0 if b is None else b),
        "ignores_bias": lambda x, w, b=None: x @ w.T,
    },
    "count_parameters": {
        "counts_tensors": lambda model: len(list(model.parameters())),
        "weights_only": lambda model: sum(p.numel() for n, p in model.named_parameters() if n.endswith("weight")),
        "own_parameters_only": lambda model: sum(p.numel() for p in model.parameters(recurse=False)),
    },
    "init_linear_": {
        "fan_out": _init_fan_out,
        "normal_not_uniform": _init_normal,
        "weight_only": _init_weight_only,
        "replaces_parameters": _init_replaces,
    },
    "dropout": {
        "no_rescale": lambda x, p, training: x * (cl.rand_like(x) >= p) if training else x,
        "keeps_with_prob_p": _dropout_keeps_p,
        "drops_in_eval": lambda x, p, training: x * (cl.rand_like(x) >= p) / (1 - p),
    },
    "sgd_momentum_step": {
        "lr_inside_buffer": lambda p, g, buf, lr, mu, tau=0.0: (lambda b: (p - b, b))(lr * g if buf is None else mu * buf + lr * (1 - tau) * g),
        "dampening_on_first_step": lambda p, g, buf, lr, mu, tau=0.0: (lambda b: (p - lr * b, b))((1 - tau) * g if buf is None else mu * buf + (1 - tau) * g),
        "wrong_sign": lambda p, g, buf, lr, mu, tau=0.0: (lambda r: (2 * p - r[0], r[1]))(sgd_momentum_step(p, g, buf, lr, mu, tau)),
    },
    "adam_step": {
        "no_bias_correction": _adam_no_correction,
        "eps_inside_sqrt": _adam_eps_inside,
        "v_not_squared": _adam_abs_g,
    },
    "rmsprop": {
        "eps_inside_sqrt": lambda: _make_rmsprop(inside_sqrt=True),
        "no_no_grad": lambda: _make_rmsprop(no_grad=False),
        "state_not_kept": lambda: _make_rmsprop(keep_state=False),
    },
    "batch_indices": {
        "drops_last_partial": lambda n, bs, shuffle=False, seed=0: batch_indices(n, bs, shuffle, seed)[: n // bs],
        "ignores_shuffle": lambda n, bs, shuffle=False, seed=0: batch_indices(n, bs, False, seed),
        "unseeded_shuffle": lambda n, bs, shuffle=False, seed=0: batch_indices(n, bs, shuffle, None),
    },
    "accuracy": {
        "argmax_dim0": lambda logits, y: (logits.argmax(0) == y).float().mean().item(),
        "returns_count": lambda logits, y: (logits.argmax(1) == y).float().sum().item(),
        "error_rate": lambda logits, y: (logits.argmax(1) != y).float().mean().item(),
    },
    "train_step": {
        "no_zero_grad": _train_no_zero_grad,
        "zero_grad_after_backward": _train_zero_after_backward,
        "step_before_backward": _train_step_first,
    },
    "apply_to_tensors": {
        "no_dicts": _apply_no_dicts,
        "tuples_become_lists": _apply_lists,
        "not_recursive": _apply_flat,
    },
    "check_same_device": {
        "compares_type_only": _same_device_type_only,
        "first_two_only": _same_device_first_two,
        "returns_flag": _same_device_flag,
    },
    "matmul_flops": {
        "no_factor_2": lambda m, k, n, backward=False: (3 if backward else 1) * m * k * n,
        "backward_one_matmul": lambda m, k, n, backward=False: (4 if backward else 2) * m * k * n,
        "forgets_backward": lambda m, k, n, backward=False: 2 * m * k * n,
    },
    "softplus_function": {
        "unstable_forward": _fn_class(_softplus_naive_fwd, _softplus_bwd_sig),
        "backward_is_softplus": _fn_class(lambda ctx, a: (ctx.save_for_backward(a), _softplus_stable(a))[1],
                                          lambda ctx, g: g * _softplus_stable(ctx.saved_tensors[0])),
        "forgets_grad_output": _fn_class(lambda ctx, a: (ctx.save_for_backward(a), _softplus_stable(a))[1],
                                         lambda ctx, g: ctx.saved_tensors[0].sigmoid()),
    },
    "conv2d_loops": {
        "flips_the_kernel": _conv_flipped,              # a textbook convolution; torch's conv2d does not flip
        "forgets_bias": _conv_no_bias,
        "pads_one_side": _conv_pad_one_side,
    },
    "col2im": {
        "assigns_instead_of_adding": _col2im_assigns,   # overlapping windows: the last one wins
        "ignores_stride": _col2im_stride_one,
    },
    "max_pool_backward": {
        "every_tie": _pool_all_ties,                    # x == max: every tied pixel gets the whole gradient
        "last_tie": _pool_last_tie,
        "shares_ties": _pool_shared_ties,
        "overwrites_overlaps": _pool_assigns,
    },
    "conv_output_shape": {
        "no_plus_one": _shape_mistake(lambda n, k, s, p, d: (n + 2 * p - d * (k - 1) - 1) // s),
        "padding_once": _shape_mistake(lambda n, k, s, p, d: (n + p - d * (k - 1) - 1) // s + 1),
        "ignores_dilation": _shape_mistake(lambda n, k, s, p, d: (n + 2 * p - k) // s + 1),
    },
    "confusion_matrix": {
        "fancy_index_add": _confusion_fancy,
        "transposed": lambda pred, target, num_classes: confusion_matrix(target, pred, num_classes),
    },
    "evaluate": {
        "forgets_eval": _eval_no_eval,
        "averages_batch_accuracies": _eval_batch_means,
        "leaves_eval_mode": _eval_stays_eval,
    },
    "batch_norm_forward": {
        "unbiased_variance": _bn_unbiased,
        "statistics_per_sample": _bn_wrong_axis,
        "eps_outside_sqrt": _bn_eps_outside,
    },
    "batch_norm_backward": {
        "forgets_mean_and_variance": _bnb_forgets_mean_and_var,
        "forgets_variance": _bnb_forgets_var,
        "dgamma_without_xhat": _bnb_dgamma_without_xhat,
    },
    "running_stats": {
        "biased_variance": _stats_biased,
        "momentum_swapped": _stats_swapped,
        "replaces": _stats_replaces,
    },
}
LAZY_MISTAKES = {"rmsprop"}


# --- the build-it-yourself track (exercises 12.1-12.7): a right piece and typical wrong ones, plugged into the library
from course_lib._tensor import _make as _tmake

def my_unbroadcast(grad, shape):
    g = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return g.sum(axis=ones, keepdims=True) if ones else g

def _ub_leading_only(grad, shape): return grad.sum(axis=tuple(range(grad.ndim - len(shape))))
def _ub_size_one_only(grad, shape):
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and i < grad.ndim and grad.shape[i] != 1)
    return grad.sum(axis=ones, keepdims=True) if ones else grad

my_topo_order = topo_order   # exercise 3.3's solution, now driving the library's backward

def _topo_reversed(root): return my_topo_order(root)[::-1]
def _topo_no_leaves(root): return [t for t in my_topo_order(root) if t.grad_fn is not None]

def _backward_with(order, accumulate=True):
    def backward(root):
        grads = {id(root): np.ones_like(root._data)}
        for t in order(root):
            g = grads.pop(id(t), None)
            if g is None: continue
            fn = t.grad_fn
            if fn is None:
                t.grad = cl.tensor(g) if t.grad is None else t.grad + cl.tensor(g); continue
            gs = type(fn).backward(fn, g)
            for p, need, gp in zip(fn.inputs, fn.needs_input_grad, gs if isinstance(gs, tuple) else (gs,)):
                if need and gp is not None: grads[id(p)] = grads[id(p)] + gp if accumulate and id(p) in grads else gp
    return backward

my_backward = _backward_with(lambda r: reversed(my_topo_order(r)))

def _apply_with(input_fns=True, unwrap=True):
    def apply(cls, *args):
        ctx = cls()
        ctx.needs_input_grad = tuple(cl.is_grad_enabled() and isinstance(a, cl.Tensor) and a.requires_grad for a in args)
        out = np.asarray(cls.forward(ctx, *[a._data if unwrap and isinstance(a, cl.Tensor) else a for a in args]))
        if any(ctx.needs_input_grad) and out.dtype.kind == "f":
            ctx.inputs = args
            ctx.input_fns = [a.grad_fn if input_fns and isinstance(a, cl.Tensor) else None for a in args]
            return _tmake(out, True, ctx)
        return _tmake(out)
    return apply

class MyLinear(cl.nn.Module):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__()
        k = 1 / math.sqrt(in_features)
        self.weight = cl.nn.Parameter(cl.rand(out_features, in_features) * 2 * k - k)
        self.bias = cl.nn.Parameter(cl.rand(out_features) * 2 * k - k) if bias else None
    def forward(self, x):
        out = x @ self.weight.T
        return out if self.bias is None else out + self.bias

class _LinearNoBias(MyLinear):
    def forward(self, x): return x @ self.weight.T

class _LinearTransposed(MyLinear):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        self.weight = cl.nn.Parameter(self.weight.detach().T.contiguous())      # (in, out): not torch's layout
    def forward(self, x):
        out = x @ self.weight
        return out if self.bias is None else out + self.bias

class _LinearGaussianInit(MyLinear):
    def __init__(self, in_features, out_features, bias=True):
        super().__init__(in_features, out_features, bias)
        with cl.no_grad(): self.weight.copy_(cl.randn(out_features, in_features))

def _sgd_with(dampening=True, first_copy=True):
    def step(params, group, state):
        lr, mu, tau = group["lr"], group["momentum"], group["dampening"] if dampening else 0.0
        for p in params:
            g = p.grad
            if group["weight_decay"]: g = g + group["weight_decay"] * p
            if mu:
                buf = state[p].get("momentum_buffer")
                buf = (g.clone() if first_copy else (1 - tau) * g) if buf is None else mu * buf + (1 - tau) * g
                state[p]["momentum_buffer"] = buf
                g = g + mu * buf if group["nesterov"] else buf
            p -= lr * g
    return step

def _sgd_plain(params, group, state):
    for p in params: p -= group["lr"] * p.grad

_BY_HAND = {"a": 6.0, "b": -4.0, "c": -2.0, "d": -2.0, "e": -2.0, "f": 4.0}

SOLUTIONS.update({"build_unbroadcast": my_unbroadcast, "build_topo_order": my_topo_order, "build_backward": my_backward,
                  "build_apply": _apply_with(), "build_linear": MyLinear, "build_sgd_step": _sgd_with(), "by_hand": _BY_HAND})
def my_windows(x, kernel, stride, dilation):
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    N, C, H, W = x.shape
    Ho, Wo = (H - dh * (kh - 1) - 1) // sh + 1, (W - dw * (kw - 1) - 1) // sw + 1
    out = np.empty((N, C, Ho, Wo, kh, kw), x.dtype)
    for p in range(kh):
        for q in range(kw):
            out[..., p, q] = x[:, :, p * dh:p * dh + sh * (Ho - 1) + 1:sh, q * dw:q * dw + sw * (Wo - 1) + 1:sw]
    return out

def _windows_transposed(x, kernel, stride, dilation):   # each window read column-major: right only for symmetric windows
    return my_windows(x, kernel[::-1], stride, dilation).swapaxes(-1, -2)

def my_attention(query, key, value, mask=None):
    scores = query @ key.transpose(-2, -1) / math.sqrt(query.shape[-1])
    if mask is not None: scores = scores + mask
    return scores.softmax(dim=-1) @ value

def _attention_with(scale=True, dim=-1, masked=True):
    def attention(query, key, value, mask=None):
        scores = query @ key.transpose(-2, -1) / (math.sqrt(query.shape[-1]) if scale else 1)
        if mask is not None and masked: scores = scores + mask
        return scores.softmax(dim=dim) @ value
    return attention

SOLUTIONS.update({"build_im2col": my_windows, "build_attention": my_attention})
MISTAKES.update({
    "build_im2col": {"ignores_dilation": lambda x, k, s, d: my_windows(x, k, s, (1, 1)),
                     "ignores_stride": lambda x, k, s, d: my_windows(x, k, (1, 1), d), "transposed": _windows_transposed},
    "build_attention": {"no_scale": _attention_with(scale=False), "softmax_over_queries": _attention_with(dim=-2),
                        "ignores_mask": _attention_with(masked=False)},
})
MISTAKES.update({
    "build_unbroadcast": {"leading_only": _ub_leading_only, "size_one_only": _ub_size_one_only},
    "build_topo_order": {"reversed": _topo_reversed, "no_leaves": _topo_no_leaves},
    "build_backward": {"overwrites": _backward_with(lambda r: reversed(my_topo_order(r)), accumulate=False),
                       "forward_order": _backward_with(my_topo_order)},
    "build_apply": {"forgets_input_nodes": _apply_with(input_fns=False), "passes_tensors": _apply_with(unwrap=False)},
    "build_linear": {"no_bias": _LinearNoBias, "transposed_weight": _LinearTransposed, "gaussian_init": _LinearGaussianInit},
    "build_sgd_step": {"plain_only": _sgd_plain, "no_dampening": _sgd_with(dampening=False)},
    "by_hand": {"forgets_chain_rule": {**_BY_HAND, "a": -3.0, "b": 2.0}, "sign_of_f": {**_BY_HAND, "d": 2.0, "c": 2.0, "e": 2.0, "a": -6.0, "b": 4.0},
                "missing": {k: v for k, v in _BY_HAND.items() if k != "f"}},
})


# ---------------------------------------------------------------- chapter 20
def count_nodes(t):
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen or type(node).__name__ == "AccumulateGrad": continue
        seen.add(id(node))
        todo.extend(n for n, _ in node.next_functions)
    return len(seen)

def _count_as_tree(t):   # no `seen`: a node reached along two paths counts twice
    def walk(n): return 0 if n is None or type(n).__name__ == "AccumulateGrad" else 1 + sum(walk(m) for m, _ in n.next_functions)
    return walk(t.grad_fn)

def _count_with_leaves(t):   # counts the leaves' AccumulateGrad nodes too
    seen, todo = set(), [t.grad_fn]
    while todo:
        node = todo.pop()
        if node is None or id(node) in seen: continue
        seen.add(id(node))
        todo.extend(n for n, _ in getattr(node, "next_functions", ()))
    return len(seen)

def top_own_time(stats, n): return [k[2] for k, v in sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]]

def smallest_batch(us_per_op, n_ops, s_per_sample, target):
    return math.ceil(n_ops * us_per_op * 1e-6 / (s_per_sample * (target - 1)))

SOLUTIONS.update({"count_nodes": count_nodes, "top_own_time": top_own_time, "smallest_batch": smallest_batch})
MISTAKES.update({
    "count_nodes": {"counts_paths": _count_as_tree, "counts_leaves": _count_with_leaves,
                    "first_level_only": lambda t: 0 if t.grad_fn is None else 1 + sum(n is not None for n, _ in t.grad_fn.next_functions)},
    "top_own_time": {"by_cumulative": lambda stats, n: [k[2] for k, v in sorted(stats.items(), key=lambda kv: kv[1][3], reverse=True)[:n]],
                     "least_first": lambda stats, n: [k[2] for k, v in sorted(stats.items(), key=lambda kv: kv[1][2])[:n]],
                     "by_calls": lambda stats, n: [k[2] for k, v in sorted(stats.items(), key=lambda kv: kv[1][1], reverse=True)[:n]]},
    "smallest_batch": {"rounds_down": lambda u, n, s, r: math.floor(n * u * 1e-6 / (s * (r - 1))),
                       "forgets_microseconds": lambda u, n, s, r: math.ceil(n * u / (s * (r - 1))),
                       "ratio_inverted": lambda u, n, s, r: math.ceil(n * u * 1e-6 / (s * (1 - 1 / r)))},
})


def _get(name, table, lazy):
    v = table[name]
    return v() if name in lazy else v


def _needs(name):
    "Skip checkers whose course_lib module has not been exported yet."
    needs = {"linear": "nn", "count_parameters": "nn", "init_linear_": "nn", "dropout": "_reduction", "rmsprop": "optim",
             "accuracy": "_reduction", "train_step": "optim", "conv2d_loops": "nn._conv", "col2im": "nn._conv",
             "max_pool_backward": "nn._conv", "conv_output_shape": "nn._conv", "evaluate": "nn._normalization",
             "batch_norm_forward": "nn._normalization", "batch_norm_backward": "nn._normalization", "running_stats": "nn._normalization",
             "build_im2col": "nn._conv", "build_attention": "nn._attention"}
    if name in needs:
        pytest.importorskip(f"course_lib.{needs[name]}", reason=f"course_lib.{needs[name]} is not exported yet")


CHECKERS = [name for _, _, _, name in check.EXERCISES]


def _final_verdict(out):
    "The verdict without the build-it-yourself checkers' passed checks (`  ✓ ...`) printed before it."
    return re.sub(r"\A(?:  ✓ .*\n)*", "", out)


def test_every_checker_has_a_solution_and_two_mistakes():
    assert sorted(SOLUTIONS) == sorted(CHECKERS)
    assert sorted(MISTAKES) == sorted(CHECKERS)
    assert all(len(MISTAKES[n]) >= 2 for n in CHECKERS)
    assert len(set(CHECKERS)) == len(CHECKERS), "two exercises share a checker"


@pytest.mark.parametrize("name", CHECKERS)
def test_accepts_the_solution(name, capsys):
    _needs(name)
    assert getattr(check, name)(_get(name, SOLUTIONS, LAZY)) is True
    out = _final_verdict(capsys.readouterr().out)
    assert re.fullmatch(rf"✓ {name}: passed \d+ cases\n", out), out


CASES = [(name, mistake) for name in CHECKERS for mistake in MISTAKES[name]]


@pytest.mark.parametrize("name,mistake", CASES, ids=[f"{n}-{m}" for n, m in CASES])
def test_rejects(name, mistake, capsys):
    _needs(name)
    assert getattr(check, name)(_get(mistake, MISTAKES[name], set()) if name not in LAZY_MISTAKES else MISTAKES[name][mistake]()) is False
    out, err = capsys.readouterr()
    out = _final_verdict(out)
    assert out.startswith(f"✗ {name}: case "), out
    assert "  hint:" in out and ("expected:" in out or "got:" in out), out
    assert err == "", f"the checker wrote to stderr: {err}"


def test_a_failure_shows_input_expected_got_and_hint(capsys):
    check.sigmoid_backward(MISTAKES["sigmoid_backward"]["forgets_grad"])
    lines = capsys.readouterr().out.splitlines()
    assert [l.split(":")[0].strip() for l in lines] == ["✗ sigmoid_backward", "input", "expected", "got", "hint"]


def test_a_crash_is_a_failed_case(capsys):
    def crashes(x, grad): raise ValueError("oops")
    assert check.sigmoid_backward(crashes) is False
    assert "raised ValueError: oops" in capsys.readouterr().out


def test_checkers_are_quiet_and_deterministic(capsys):
    "No warnings escape from student code (an overflowing softmax), and a second run prints the same."
    with __import__("warnings").catch_warnings():
        __import__("warnings").simplefilter("error")
        check.softmax(MISTAKES["softmax"]["unstable"])
    first = capsys.readouterr().out
    check.softmax(MISTAKES["softmax"]["unstable"])
    assert capsys.readouterr().out == first


def test_student_inputs_are_copies():
    "A solution that modifies its inputs in place doesn't change what the checker compares with."
    def in_place(x, grad):
        s = 1 / (1 + np.exp(-x)); grad *= s * (1 - s); x[...] = 0; return grad
    assert check.sigmoid_backward(in_place) is True


# ---------------------------------------------------------------- the index and the notebooks agree
def _exercise_headings():
    found = {}
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        for cell in json.loads(nb.read_text())["cells"]:
            if cell["cell_type"] != "markdown": continue
            # Quarto's form (`## Exercise 1.1: ...`) or the Jupyter form tools/callouts.py writes (`> **💡 Exercise 1.1: ...**`)
            for num, title in re.findall(r"^(?:## |> \*\*\S+ )Exercise (\d+\.\d+): (.+?)(?:\*\*)?$", "".join(cell["source"]), re.M):
                found.setdefault(nb.stem, []).append((num, title.strip()))
    return found


def test_exercise_headings_match_the_list():
    listed = {}
    for num, nb, title, _ in check.EXERCISES + check.CHAPTER_EXERCISES: listed.setdefault(nb, []).append((num, title))
    for items in listed.values(): items.sort(key=lambda e: int(e[0].split(".")[1]))   # a chapter may have exercises in both lists
    found = _exercise_headings()
    for nb, items in found.items():
        assert items == listed.get(nb), f"{nb}: the notebook's exercises {items} differ from check.EXERCISES {listed.get(nb)}"


def test_each_solution_cell_calls_its_checker():
    "Every `Solution to N.k` callout (Quarto's form or tools/callouts.py's fold) is followed by a folded code cell calling check.<its checker>."
    checker = {num: name for num, _, _, name in check.EXERCISES}
    local = {num: name for num, _, _, name in check.CHAPTER_EXERCISES}   # defined in the chapter, above its exercises
    for nb in sorted((ROOT / "nbs").glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        for i, cell in enumerate(cells):
            m = re.search(r"(?:## |<summary><b>)Solution to (\d+\.\d+)", "".join(cell["source"])) if cell["cell_type"] == "markdown" else None
            if not m: continue
            code = "".join(cells[i + 1]["source"])
            folded = code.startswith("#| code-fold: true") or cells[i + 1].get("metadata", {}).get("jupyter", {}).get("source_hidden")
            assert cells[i + 1]["cell_type"] == "code" and folded, f"{nb.name}: solution {m[1]}"
            outs = "".join("".join(o.get("text", "")) for o in cells[i + 1].get("outputs", []))
            if m[1] in local:
                assert f"{local[m[1]]}(" in code and "✓" in outs and "passed" in outs, f"{nb.name}: solution {m[1]}"
                continue
            assert f"check.{checker[m[1]]}(" in code, f"{nb.name}: the solution to {m[1]} must call check.{checker[m[1]]}"
            outs = "".join("".join(o.get("text", "")) for o in cells[i + 1].get("outputs", []))
            assert f"✓ {checker[m[1]]}: passed" in outs, f"{nb.name}: the stored output of solution {m[1]} is not a pass"


def test_at_least_three_exercises_per_chapter():
    per = {}
    for _, nb, _, _ in check.EXERCISES: per[nb] = per.get(nb, 0) + 1
    chapters = [f"{i:02d}" for i in (*range(1, 11), 13, 14, 15)]
    assert all(per.get(next((n for n in per if n.startswith(c + "_")), ""), 0) >= 3 for c in chapters), per
    assert sum(per.values()) >= 25



def test_readme_counts_the_exercises():
    "The README's exercise counts and chapter range are the course's, so they cannot fall behind a new exercise."
    readme = " ".join((ROOT / "README.md").read_text().split())
    every = check._all_exercises()
    track = [e for e in every if e[1] == "12_exercises"]
    m = re.search(r"Chapters ([\d–, and]+) end with exercises \((\d+) in all", readme)
    assert m, "README.md: the sentence 'Chapters ... end with exercises (N in all' is missing"
    assert int(m[2]) == len(every) - len(track), f"README.md says {m[2]} chapter exercises; the course has {len(every) - len(track)}"
    chapters = sorted({int(nb[:2]) for _, nb, _, _ in every if nb != "12_exercises"})
    assert chapters == [*range(1, 12), *range(13, 21)] and m[1] == "1–11 and 13–20", (m[1], chapters)
    n = re.search(r"build-it-yourself\*\* track \((\d+) exercises, (\d+) in the course\)", readme)
    assert n and (int(n[1]), int(n[2])) == (len(track), len(every)), (n and n.groups(), len(track), len(every))
