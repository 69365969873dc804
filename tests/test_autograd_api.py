"""torch.autograd's API beyond backward, against torch: autograd.grad, register_hook, functional.jacobian, inference_mode,
and custom Functions written exactly as for torch (Tensors in forward and backward, ctx.save_for_backward,
needs_input_grad, mark_non_differentiable, set_materialize_grads, once_differentiable, setup_context)."""
import numpy as np
import pytest
import torch

import course_lib as cl
from helpers import assert_same_tensor, paired


def both(fn):
    "fn(L) for torch and course_lib."
    return fn(torch), fn(cl)


def same(t, c):
    if t is None or c is None:
        assert t is None and c is None
        return
    if isinstance(t, (tuple, list)):
        assert isinstance(c, (tuple, list)) and len(t) == len(c)
        for a, b in zip(t, c): same(a, b)
        return
    assert_same_tensor(c, t)


# ----------------------------------------------------------------------------------------------------------
# autograd.grad
# ----------------------------------------------------------------------------------------------------------
GRADS = {
    "leaf": lambda L, x, y: L.autograd.grad((x * x).sum(), x),
    "two_inputs": lambda L, x, y: L.autograd.grad((x * y).sum(), [x, y]),
    "non_leaf": lambda L, x, y: (lambda h: L.autograd.grad((h * h).sum(), h))(x * 2),
    "grad_outputs": lambda L, x, y: L.autograd.grad(x * y, x, grad_outputs=L.ones_like(x) * 3),
    "two_outputs": lambda L, x, y: L.autograd.grad([(x * x).sum(), (x * y).sum()], [x]),
    "allow_unused": lambda L, x, y: L.autograd.grad((x * 2).sum(), [x, y], allow_unused=True),
    "materialize": lambda L, x, y: L.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True),
    "tuple_inputs": lambda L, x, y: L.autograd.grad(x.exp().sum(), (x,)),
}


@pytest.mark.parametrize("name", list(GRADS))
def test_autograd_grad_like_torch(name):
    a, b = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1])
    (cx, tx), (cy, ty) = paired(a, requires_grad=True), paired(b, requires_grad=True)
    t, c = GRADS[name](torch, tx, ty), GRADS[name](cl, cx, cy)
    assert isinstance(c, tuple)
    same(t, c)
    assert cx.grad is None and tx.grad is None        # grad() touches no .grad


@pytest.mark.parametrize("call", [
    lambda L, x: L.autograd.grad((x * 2).sum(), [x, L.ones(2, requires_grad=True)]),
    lambda L, x: L.autograd.grad((x * 2).sum(), [L.ones(2)]),
    lambda L, x: L.autograd.grad(L.ones(2).sum(), [x]),
])
def test_autograd_grad_errors_like_torch(call):
    with pytest.raises(RuntimeError) as te: call(torch, torch.ones(3, requires_grad=True))
    with pytest.raises(RuntimeError) as ce: call(cl, cl.ones(3, requires_grad=True))
    assert str(ce.value) == str(te.value)


def test_autograd_grad_frees_the_graph_unless_retained():
    for L in (torch, cl):
        x = L.ones(3, requires_grad=True)
        y = (x.exp() * x).sum()
        L.autograd.grad(y, x, retain_graph=True)
        L.autograd.grad(y, x)
        with pytest.raises(RuntimeError, match="backward through the graph a second time"): L.autograd.grad(y, x)


def test_create_graph_is_refused_with_a_reason():
    x = cl.ones(2, requires_grad=True)
    for call in (lambda: cl.autograd.grad((x * x).sum(), x, create_graph=True),
                 lambda: (x * x).sum().backward(create_graph=True)):
        with pytest.raises(NotImplementedError, match="higher-order gradients"): call()


# ----------------------------------------------------------------------------------------------------------
# hooks, retain_grad, requires_grad_
# ----------------------------------------------------------------------------------------------------------
def _hooked(L):
    seen = []
    w = L.tensor([1.0, -2.0, 3.0], requires_grad=True)
    h = w * 2
    h.register_hook(lambda g: seen.append(g.clone()))                   # observe (returns None)
    handle = w.register_hook(lambda g: g * 10)                          # replace the leaf's gradient
    (h * h).sum().backward()
    first = w.grad.clone()
    handle.remove()
    w.grad = None
    (w * w).sum().backward()
    return first, w.grad, seen[0]


def test_register_hook_like_torch():
    same(*both(_hooked))


def test_register_hook_on_non_leaf_replaces_what_flows_on():
    def run(L):
        x = L.tensor([1.0, 2.0], requires_grad=True)
        y = x * 3
        y.register_hook(lambda g: g * 0 + 1)
        (y * y).sum().backward()
        return x.grad
    same(*both(run))


def test_hook_needs_requires_grad_like_torch():
    with pytest.raises(RuntimeError) as te: torch.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError) as ce: cl.ones(2).register_hook(lambda g: g)
    assert str(ce.value) == str(te.value)


def test_retain_grad_and_requires_grad_like_torch():
    def run(L):
        x = L.ones(2).requires_grad_()
        y = x * 3
        y.retain_grad()
        (y * y).sum().backward()
        return x.grad, y.grad, x.requires_grad, y.retains_grad
    t, c = both(run)
    same(t[:2], c[:2])
    assert t[2:] == c[2:]


# ----------------------------------------------------------------------------------------------------------
# functional.jacobian
# ----------------------------------------------------------------------------------------------------------
JACOBIANS = {
    "elementwise": (lambda v: v * v + 1, [(3,)]),
    "matrix_vector": (lambda v: v.exp().sum() * v, [(3,)]),
    "2d_in": (lambda m: (m * m).sum(1), [(2, 3)]),
    "two_inputs": (lambda a, b: a * b, [(3,), (3,)]),
    "two_outputs": (lambda a: (a.sin(), a * 2), [(2,)]),
    "scalar_out": (lambda a: (a * a).sum(), [(3,)]),
}


@pytest.mark.parametrize("name", list(JACOBIANS))
def test_jacobian_like_torch(name):
    f, shapes = JACOBIANS[name]
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    tin = tuple(torch.tensor(a) for a in arrays)
    cin = tuple(cl.tensor(a) for a in arrays)
    if len(arrays) == 1: tin, cin = tin[0], cin[0]
    same(torch.autograd.functional.jacobian(f, tin), cl.autograd.functional.jacobian(f, cin))


# ----------------------------------------------------------------------------------------------------------
# inference_mode
# ----------------------------------------------------------------------------------------------------------
def test_inference_mode_like_torch():
    def run(L):
        x = L.ones(2, requires_grad=True)
        with L.inference_mode(): a = (x * 2, L.is_grad_enabled(), L.is_inference_mode_enabled())
        with L.inference_mode(False): b = ((x * 2).requires_grad, L.is_grad_enabled())
        @L.inference_mode()
        def f(v): return v * 2
        @L.inference_mode
        def g(v): return v * 3
        return a[0].requires_grad, a[1], a[2], b, f(x).requires_grad, g(x).requires_grad, L.is_inference_mode_enabled()
    t, c = both(run)
    assert t == c


# ----------------------------------------------------------------------------------------------------------
# custom Functions written as for torch
# ----------------------------------------------------------------------------------------------------------
def make_functions(L):
    "The same classes for both libraries, only the import different (PyTorch's tutorial's MyReLU among them)."
    class MyReLU(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return input.clamp(min=0)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            grad_input = grad_output.clone()
            grad_input[input < 0] = 0
            return grad_input

    class LegendrePolynomial3(L.autograd.Function):
        @staticmethod
        def forward(ctx, input):
            ctx.save_for_backward(input)
            return 0.5 * (5 * input ** 3 - 3 * input)

        @staticmethod
        def backward(ctx, grad_output):
            input, = ctx.saved_tensors
            return grad_output * 1.5 * (5 * input ** 2 - 1)

    class ScaledMul(L.autograd.Function):             # a non-tensor argument, needs_input_grad
        @staticmethod
        def forward(ctx, a, b, k):
            ctx.save_for_backward(a, b)
            ctx.k = k
            return a * b * k

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            ga = g * b * ctx.k if ctx.needs_input_grad[0] else None
            gb = g * a * ctx.k if ctx.needs_input_grad[1] else None
            return ga, gb, None

    class SortWithIndices(L.autograd.Function):       # two outputs, one marked non-differentiable
        @staticmethod
        def forward(ctx, x):
            values, idx = x.sort()
            ctx.mark_non_differentiable(idx)
            ctx.save_for_backward(idx)
            return values, idx

        @staticmethod
        def backward(ctx, g_values, g_idx):
            idx, = ctx.saved_tensors
            out = g_values.new_zeros(g_values.shape)
            out[idx] = g_values
            return out

    class NoMaterialize(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2, (x > 0)

        @staticmethod
        def backward(ctx, g, g_mask):
            assert g_mask is None or not g_mask.any()
            return g * 2

    class Once(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.exp()

        @staticmethod
        @L.autograd.function.once_differentiable
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return g * x.exp()

    class SetupContextStyle(L.autograd.Function):     # torch 2's style: forward without ctx
        @staticmethod
        def forward(x, k):
            return x * k

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.k = inputs[1]

        @staticmethod
        def backward(ctx, g):
            return g * ctx.k, None

    return dict(MyReLU=MyReLU, LegendrePolynomial3=LegendrePolynomial3, ScaledMul=ScaledMul,
                SortWithIndices=SortWithIndices, NoMaterialize=NoMaterialize, Once=Once, SetupContextStyle=SetupContextStyle)


CALLS = {
    "MyReLU": lambda F, x, y: F.apply(x),
    "LegendrePolynomial3": lambda F, x, y: F.apply(x),
    "ScaledMul": lambda F, x, y: F.apply(x, y, 2.5),
    "SortWithIndices": lambda F, x, y: F.apply(x)[0] * y,
    "NoMaterialize": lambda F, x, y: F.apply(x)[0],
    "Once": lambda F, x, y: F.apply(x),
    "SetupContextStyle": lambda F, x, y: F.apply(x, 3.0),
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", list(CALLS))
def test_torch_style_function_like_torch(name, dtype):
    rng = np.random.default_rng(len(name))
    a, b, g = (rng.standard_normal(4) for _ in range(3))
    res = {}
    for L in (torch, cl):
        F = make_functions(L)[name]
        x = L.tensor(a, dtype=getattr(L, dtype), requires_grad=True)
        y = L.tensor(b, dtype=getattr(L, dtype), requires_grad=True)
        out = CALLS[name](F, x, y)
        out.backward(L.tensor(g, dtype=getattr(L, dtype)))
        res[L] = (out.detach(), x.grad, y.grad, out.grad_fn.name() if name not in ("SortWithIndices",) else None)
    same(res[torch][:3], res[cl][:3])
    if res[torch][3] is not None: assert res[cl][3] == res[torch][3]


def test_torch_style_function_node_repr_and_edges():
    F = make_functions(cl)["MyReLU"]
    x = cl.tensor([-1.0, 2.0], requires_grad=True)
    y = F.apply(x)
    assert repr(y.grad_fn).startswith("<course_lib.autograd.function.MyReLUBackward object at 0x")
    assert y.grad_fn.name() == "MyReLUBackward" and type(y.grad_fn).__name__ == "MyReLU"
    assert type(y.grad_fn.next_functions[0][0]).__name__ == "AccumulateGrad"
    Ft = make_functions(torch)["MyReLU"]
    assert type(Ft.apply(torch.tensor([1.0], requires_grad=True)).grad_fn).__name__ == "MyReLUBackward"


def test_torch_style_forward_runs_without_recording_and_gets_tensors():
    seen = {}

    class Probe(cl.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            seen["type"], seen["grad_mode"], seen["same"] = type(x), cl.is_grad_enabled(), x is inp
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen["g"] = type(g)
            return g * 2

    inp = cl.ones(2, requires_grad=True)
    Probe.apply(inp).sum().backward()
    assert seen == {"type": cl.Tensor, "grad_mode": False, "same": True, "g": cl.Tensor}
    assert inp.grad.tolist() == [2.0, 2.0]
    assert not Probe._arrays


def test_torch_style_saved_tensors_freed_and_versions_checked_like_torch():
    for L in (torch, cl):
        F = make_functions(L)["LegendrePolynomial3"]
        x = L.tensor([0.5, 1.5], requires_grad=True)
        y = F.apply(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"): y.backward()
        x2 = L.tensor([0.5, 1.5], requires_grad=True) * 1.0
        z = F.apply(x2).sum()
        with L.no_grad(): x2.add_(1.0)
        with pytest.raises(RuntimeError, match="modified by an inplace operation"): z.backward()


def test_torch_style_without_grad_returns_forward_output():
    F = make_functions(cl)["MyReLU"]
    y = F.apply(cl.tensor([-1.0, 2.0]))
    assert y.grad_fn is None and not y.requires_grad and y.tolist() == [0.0, 2.0]


def test_the_engine_ops_keep_the_array_contract():
    from course_lib import _pointwise, _shape, _arithmetic
    assert _pointwise.Exp._arrays and _pointwise.Square._arrays and _shape.View._arrays and _arithmetic.Add._arrays
    assert cl.nn.functional.relu.__module__.startswith("course_lib")


def test_a_chapter_cell_defining_course_libs_own_op_keeps_the_array_contract():
    "nbdev's site processing runs a chapter's export cells without Jupyter's cell sources: the class is still recognised, by its code."
    import inspect, textwrap
    from course_lib import _pointwise
    ns = {"Function": cl.autograd.Function, "_xp": _pointwise._xp, "__name__": "__main__"}
    exec(compile(textwrap.dedent(inspect.getsource(_pointwise.Sin)), "<cell>", "exec"), ns)
    assert ns["Sin"]._arrays and ns["Sin"].apply(cl.tensor([0.0], requires_grad=True)).grad_fn.name() == "SinBackward0"
    exec(compile("class Sin(Function):\n    @staticmethod\n    def forward(ctx, x): return x.sin()\n", "<cell>", "exec"), ns)
    assert not ns["Sin"]._arrays                     # the same name with other code: yours, torch's contract


# ----------------------------------------------------------------------------------------------------------
# backward(inputs=...), autograd.backward, and the graph's AccumulateGrad nodes
# ----------------------------------------------------------------------------------------------------------
BACKWARDS = {
    "inputs_one": lambda L, x, y, w: (x * y * w).sum().backward(inputs=[x]),
    "inputs_tensor": lambda L, x, y, w: (x * y).sum().backward(inputs=y),
    "inputs_two": lambda L, x, y, w: (x * y + w).sum().backward(inputs=[w, x]),
    "inputs_accumulate": lambda L, x, y, w: [(x * y).sum().backward(inputs=[x]) for _ in range(2)],
    "inputs_non_leaf": lambda L, x, y, w: (lambda h: ((h * w).sum().backward(inputs=[h, w]), h.grad)[1])(x * y),
    "autograd_backward": lambda L, x, y, w: L.autograd.backward((x * y).sum()),
    "autograd_backward_grad_tensors": lambda L, x, y, w: L.autograd.backward([x * y, w * 2], [L.ones(3) * 2, L.ones(3)]),
    "autograd_backward_inputs": lambda L, x, y, w: L.autograd.backward([(x * w).sum()], inputs=[w]),
    "autograd_backward_retain": lambda L, x, y, w: [L.autograd.backward(z, retain_graph=True) for z in [(x.exp() * y).sum()] for _ in range(2)],
}


@pytest.mark.parametrize("name", list(BACKWARDS))
def test_backward_with_inputs_like_torch(name):
    "Only the tensors named in `inputs` get a .grad (accumulated), as in torch; autograd.backward is Tensor.backward for many."
    arrays = np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.7, -1.1]), np.array([2.0, 0.1, -0.4])
    pairs = [paired(a, requires_grad=True) for a in arrays]
    cs, ts = [p[0] for p in pairs], [p[1] for p in pairs]
    c, t = BACKWARDS[name](cl, *cs), BACKWARDS[name](torch, *ts)
    if isinstance(t, torch.Tensor): same(t, c)       # a non-leaf's .grad
    for a, b in zip(cs, ts): same(b.grad, a.grad)


@pytest.mark.parametrize("call", [
    lambda L, x: (x * 2).sum().backward(inputs=[]),
    lambda L, x: (x * 2).sum().backward(inputs=[L.ones(3)]),
    lambda L, x: L.autograd.backward([(x * 2), (x * 3)], [L.ones(3)]),
])
def test_backward_inputs_errors_like_torch(call):
    with pytest.raises(RuntimeError) as te: call(torch, torch.ones(3, requires_grad=True))
    with pytest.raises(RuntimeError) as ce: call(cl, cl.ones(3, requires_grad=True))
    assert str(ce.value) == str(te.value).strip()


def test_accumulate_grad_nodes_like_torch():
    "One AccumulateGrad node per leaf, reached from every op that uses it, with no next_functions of its own."
    for L in (torch, cl):
        x, w = L.ones(2, requires_grad=True), L.ones(2, requires_grad=True)
        add = (x * w + x * w).sum().grad_fn.next_functions[0][0]
        (m1, _), (m2, _) = add.next_functions
        assert m1 is not m2
        acc = m1.next_functions[0][0]
        assert acc is m2.next_functions[0][0] and acc.variable is x, L.__name__
        assert acc.next_functions == () and type(acc).__name__ == "AccumulateGrad"
        assert m1.next_functions[1][0] is not acc                  # w has its own
