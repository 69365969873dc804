"""course_lib.nn against torch.nn: registration, naming, init, forward/backward, state_dict, dropout, errors."""
import math
import warnings
import numpy as np
import pytest
import torch

import course_lib.nn as nn
import course_lib.nn.functional as F
from course_lib import Tensor, tensor, manual_seed, randn, ones, empty, no_grad, float32, float64

TORCH_DT = {float32: torch.float32, float64: torch.float64}


def to_torch(t): return torch.from_numpy(t.detach().numpy().copy())


def mlp(sizes, act=nn.ReLU, dtype=float32):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]): layers += [nn.Linear(n_in, n_out, dtype=dtype), act()]
    return nn.Sequential(*layers[:-1])


def torch_twin(model):
    layers = []
    for m in model:
        if isinstance(m, nn.Linear): layers.append(torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None))
        else: layers.append(getattr(torch.nn, type(m).__name__)())
    twin = torch.nn.Sequential(*layers).to(TORCH_DT[model[0].weight.dtype])
    twin.load_state_dict({k: to_torch(v) for k, v in model.state_dict().items()})
    return twin


# ---------------------------------------------------------------- Parameter
def test_parameter_is_a_leaf_tensor_requiring_grad_and_shares_storage():
    t = tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    with no_grad(): t.mul_(3.0)
    assert p.tolist() == [3.0, 6.0]                      # same storage, like torch.nn.Parameter(t)
    assert not nn.Parameter(tensor([1.0]), requires_grad=False).requires_grad


@pytest.mark.parametrize("values", [[1.0, 2.0], [[0.5, -1.25], [3.0, 4.0]], [0.5403, -0.4161, -0.9900]])
def test_parameter_repr_matches_torch(values):
    assert repr(nn.Parameter(tensor(values))) == repr(torch.nn.Parameter(torch.tensor(values)))


def test_parameter_ops_give_plain_tensors_with_grad():
    p = nn.Parameter(tensor([1.0, 2.0]))
    y = (p * 2).sum()
    assert type(y) is Tensor
    y.backward()
    assert p.grad.tolist() == [2.0, 2.0]


# ---------------------------------------------------------------- Module registration
class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(ones(3))
        self.lin = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.tag = "plain attribute"
    def forward(self, x): return self.act(self.lin(x * self.scale))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.head = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
        self.bias = nn.Parameter(empty(2))
    def forward(self, x): return self.head(self.block(x)) + self.bias


class TBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(3))
        self.lin = torch.nn.Linear(3, 4)
        self.act = torch.nn.Tanh()
    def forward(self, x): return self.act(self.lin(x * self.scale))


class TNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.block = TBlock()
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
        self.bias = torch.nn.Parameter(torch.empty(2))
    def forward(self, x): return self.head(self.block(x)) + self.bias


def test_named_parameters_children_and_modules_match_torch():
    net, tnet = Net(), TNet()
    assert [n for n, _ in net.named_parameters()] == [n for n, _ in tnet.named_parameters()]
    assert [tuple(p.shape) for p in net.parameters()] == [tuple(p.shape) for p in tnet.parameters()]
    assert [n for n, _ in net.named_children()] == [n for n, _ in tnet.named_children()]
    assert [n for n, _ in net.named_modules()] == [n for n, _ in tnet.named_modules()]
    assert [type(m).__name__ for m in net.modules()] == [type(m).__name__.replace("TB", "B").replace("TN", "N") for m in tnet.modules()]
    assert [n for n, _ in net.named_parameters(recurse=False)] == [n for n, _ in tnet.named_parameters(recurse=False)]
    assert net.block.tag == "plain attribute" and "block.tag" not in dict(net.named_parameters())


def test_forward_and_backward_of_a_custom_module_match_torch():
    manual_seed(0)
    net, tnet = Net(), TNet()
    with no_grad(): net.bias.copy_(randn(2))
    tnet.load_state_dict({k: to_torch(v) for k, v in net.state_dict().items()})
    x = randn(5, 3)
    out, tout = net(x), tnet(to_torch(x))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    out.sum().backward(); tout.sum().backward()
    for (n, p), (tn, tp) in zip(net.named_parameters(), tnet.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-6, err_msg=n)


def test_shared_parameters_and_modules_are_listed_once_like_torch():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, nn.ReLU(), lin)
    tlin = torch.nn.Linear(2, 2)
    tseq = torch.nn.Sequential(tlin, torch.nn.ReLU(), tlin)
    assert [n for n, _ in seq.named_parameters()] == [n for n, _ in tseq.named_parameters()]
    assert len(list(seq.modules())) == len(list(tseq.modules()))


def test_assigning_a_plain_tensor_to_a_parameter_name_raises_and_none_is_allowed():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = lin.weight * 2
    lin.bias = None
    assert lin.bias is None and [n for n, _ in lin.named_parameters()] == ["weight"]
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lin.nope


def test_parameter_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(ones(2))
            super().__init__()
    with pytest.raises(AttributeError, match="__init__"):
        Bad()


def test_missing_forward_raises_like_torch():
    with pytest.raises(NotImplementedError, match='missing the required "forward" function'):
        nn.Module()(ones(1))


def test_delattr_unregisters():
    net = Net()
    del net.bias
    assert "bias" not in [n for n, _ in net.named_parameters()]


def test_apply_visits_children_before_parent_like_torch():
    seen, tseen = [], []
    Net().apply(lambda m: seen.append(type(m).__name__))
    TNet().apply(lambda m: tseen.append(type(m).__name__))
    assert seen == [n.replace("TB", "B").replace("TN", "N") for n in tseen]


# ---------------------------------------------------------------- repr
def test_repr_matches_torch():
    ours = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Sequential(nn.Linear(16, 8, bias=False), nn.Tanh()),
                         nn.Sigmoid(), nn.Linear(8, 3), nn.MSELoss(), nn.CrossEntropyLoss())
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 16), torch.nn.ReLU(), torch.nn.Sequential(torch.nn.Linear(16, 8, bias=False), torch.nn.Tanh()),
                                 torch.nn.Sigmoid(), torch.nn.Linear(8, 3), torch.nn.MSELoss(), torch.nn.CrossEntropyLoss())
    assert repr(ours) == repr(theirs)
    assert repr(Net()).replace("Block", "TBlock").replace("Net(", "TNet(", 1) == repr(TNet())


@pytest.mark.parametrize("make", [lambda m: m.Dropout(0.25), lambda m: m.Dropout(0.25, inplace=True), lambda m: m.ReLU(),
                                  lambda m: m.ReLU(inplace=True), lambda m: m.ReLU(True)])
def test_dropout_and_relu_reprs_match_torch(make):
    assert repr(make(nn)) == repr(make(torch.nn))


def test_relu_inplace_overwrites_its_input_like_torch():
    x, tx = tensor([-1.0, 0.5, 2.0]), torch.tensor([-1.0, 0.5, 2.0])
    out, tout = F.relu(x, inplace=True), torch.nn.functional.relu(tx, inplace=True)
    assert out is x and x.tolist() == tx.tolist() == tout.tolist()
    y, ty = tensor([-3.0, 4.0]), torch.tensor([-3.0, 4.0])
    assert nn.ReLU(inplace=True)(y) is y and y.tolist() == torch.nn.ReLU(inplace=True)(ty).tolist()
    w, tw = tensor([-1.0, 2.0], requires_grad=True), torch.tensor([-1.0, 2.0], requires_grad=True)
    (F.relu(w * 3, inplace=True) * w).sum().backward()
    (torch.nn.functional.relu(tw * 3, inplace=True) * tw).sum().backward()
    assert w.grad.tolist() == tw.grad.tolist()


def test_functional_dropout_matches_torch_semantics():
    x = ones(10_000, dtype=float64)
    assert F.dropout(x, 0.3, training=False) is x and torch.nn.functional.dropout(torch.ones(3), 0.3, training=False).tolist() == [1.0] * 3
    manual_seed(0)
    y = F.dropout(x, 0.3)
    kept = y.numpy() != 0
    assert np.allclose(y.numpy()[kept], 1 / 0.7) and abs(kept.mean() - 0.7) < 0.03     # torch keeps with probability 1-p, scaled
    assert F.dropout(x, 1.0).abs().sum().item() == 0 == torch.nn.functional.dropout(torch.ones(3), 1.0).abs().sum().item()
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError) as ours: F.dropout(x, p)
        with pytest.raises(ValueError) as theirs: torch.nn.functional.dropout(torch.ones(3), p)
        assert str(ours.value) == str(theirs.value)


def test_nn_and_functional_front_doors_hold_torchs_names_only():
    import course_lib
    for ours, theirs in ((nn, torch.nn), (F, torch.nn.functional)):
        public = [n for n in dir(ours) if not n.startswith("_")]
        assert set(ours.__all__) == set(public), "the front door's __all__ lists its public names"
        assert not [n for n in public if not hasattr(theirs, n)], f"names torch lacks in {ours.__name__}"
        assert not {"np", "math", "OrderedDict", "warnings", "Function", "Tensor"} & set(public)
    assert F.relu is course_lib.nn._activation.relu and nn.Module is course_lib.nn._module.Module
    assert all(isinstance(getattr(nn, n), type) or n in ("functional", "init", "utils") for n in nn.__all__)
    assert all(callable(getattr(F, n)) and not isinstance(getattr(F, n), type) for n in F.__all__)


# ---------------------------------------------------------------- Sequential
def test_sequential_indexing_len_iter_and_slices():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and seq[-1] is seq[2]
    assert [type(m).__name__ for m in seq] == ["Linear", "ReLU", "Linear"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and len(sub) == 2 and sub[1] is seq[2]
    assert [n for n, _ in sub.named_parameters()] == [n for n, _ in torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))[1:].named_parameters()]
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]


def test_sequential_from_ordered_dict_uses_the_names():
    from collections import OrderedDict
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 3)), ("act", nn.ReLU())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"] and seq.fc is seq[0]


# ---------------------------------------------------------------- Linear and init
@pytest.mark.parametrize("n_in,n_out", [(300, 512), (7, 3)])
def test_linear_init_is_uniform_within_torch_bound(n_in, n_out):
    manual_seed(0); torch.manual_seed(0)
    ours, theirs = nn.Linear(n_in, n_out), torch.nn.Linear(n_in, n_out)
    bound = 1 / math.sqrt(n_in)
    for p, tp in [(ours.weight, theirs.weight), (ours.bias, theirs.bias)]:
        assert tuple(p.shape) == tuple(tp.shape) and p.dtype == float32
        assert np.abs(p.detach().numpy()).max() <= bound
        assert float(tp.detach().abs().max()) <= bound      # the bound is torch's


def test_kaiming_uniform_statistics_match_torch():
    manual_seed(0); torch.manual_seed(0)
    for a, nl in [(math.sqrt(5), "leaky_relu"), (0, "relu")]:
        w = nn.init.kaiming_uniform_(empty(400, 250), a=a, nonlinearity=nl).numpy()
        tw = torch.nn.init.kaiming_uniform_(torch.empty(400, 250), a=a, nonlinearity=nl).numpy()
        assert abs(np.abs(w).max() - np.abs(tw).max()) < 1e-3 * np.abs(tw).max()     # same bound (max of 1e5 draws)
        assert abs(w.std() - tw.std()) < 0.01 * tw.std()                              # same std, bound/sqrt(3)
        assert abs(w.mean()) < 0.01 * tw.std()


@pytest.mark.parametrize("nl,param", [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None),
                                      ("leaky_relu", None), ("leaky_relu", 0.2), ("selu", None)])
def test_calculate_gain_matches_torch(nl, param):
    assert nn.init.calculate_gain(nl, param) == pytest.approx(torch.nn.init.calculate_gain(nl, param))


def test_init_functions_work_in_place_on_parameters_under_no_grad():
    manual_seed(0)
    p = nn.Parameter(empty(200, 300))
    assert nn.init.normal_(p, 1.0, 2.0) is p
    assert abs(p.detach().numpy().mean() - 1.0) < 0.05 and abs(p.detach().numpy().std() - 2.0) < 0.05
    assert nn.init.uniform_(p, -2.0, -1.0) is p and -2.0 <= p.detach().numpy().min() and p.detach().numpy().max() < -1.0
    assert nn.init.zeros_(p).detach().numpy().sum() == 0 and nn.init.ones_(p).detach().numpy().mean() == 1
    assert p.requires_grad and p.is_leaf and p.grad is None
    import course_lib.nn.init as init_module
    assert init_module.kaiming_uniform_ is nn.init.kaiming_uniform_


def test_init_is_reproducible_with_manual_seed():
    manual_seed(3); a = nn.Linear(4, 5).weight.detach().numpy().copy()
    manual_seed(3); b = nn.Linear(4, 5).weight.detach().numpy()
    assert np.array_equal(a, b)


def test_linear_without_bias_and_in_float64():
    lin = nn.Linear(3, 2, bias=False, dtype=float64)
    assert lin.bias is None and lin.weight.dtype == float64 and repr(lin) == repr(torch.nn.Linear(3, 2, bias=False))
    x = randn(4, 3, dtype=float64)
    np.testing.assert_allclose(lin(x).detach().numpy(), x.numpy() @ lin.weight.detach().numpy().T, rtol=1e-12)


def test_linear_wrong_input_width_names_both_shapes_like_torch():
    with pytest.raises(RuntimeError) as theirs:
        torch.nn.Linear(5, 2)(torch.randn(4, 3))
    with pytest.raises(RuntimeError) as ours:
        nn.Linear(5, 2)(randn(4, 3))
    assert str(theirs.value) in str(ours.value)          # "mat1 and mat2 shapes cannot be multiplied (4x3 and 5x2)"
    assert "4x3" in str(ours.value) and "5x2" in str(ours.value)


# ---------------------------------------------------------------- MLP forward/backward vs torch
@pytest.mark.parametrize("dtype,rtol,atol", [(float64, 1e-10, 1e-12), (float32, 1e-5, 1e-6)])
@pytest.mark.parametrize("act", [nn.ReLU, nn.Tanh, nn.Sigmoid])
def test_mlp_forward_backward_match_torch(dtype, rtol, atol, act):
    manual_seed(0)
    model = mlp([3, 16, 8, 4], act, dtype)
    twin = torch_twin(model)
    x, y = randn(10, 3, dtype=dtype), tensor(np.arange(10) % 4)
    loss = nn.CrossEntropyLoss()(model(x), y)
    tloss = torch.nn.CrossEntropyLoss()(twin(to_torch(x)), to_torch(y))
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=rtol)
    loss.backward(); tloss.backward()
    for p, tp in zip(model.parameters(), twin.parameters()):
        assert p.grad.dtype == dtype
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=rtol, atol=atol)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_loss_modules_match_torch(reduction):
    manual_seed(0)
    a, b = randn(6, 3, dtype=float64), randn(6, 3, dtype=float64)
    y = tensor([0, 2, 1, 1, 0, 2])
    np.testing.assert_allclose(nn.MSELoss(reduction=reduction)(a, b).numpy(),
                               torch.nn.MSELoss(reduction=reduction)(to_torch(a), to_torch(b)).numpy(), rtol=1e-12)
    np.testing.assert_allclose(nn.CrossEntropyLoss(reduction=reduction)(a, y).numpy(),
                               torch.nn.CrossEntropyLoss(reduction=reduction)(to_torch(a), to_torch(y)).numpy(), rtol=1e-12)


def test_cross_entropy_loss_options_match_torch():
    manual_seed(0)
    x, y = randn(8, 3, dtype=float64, requires_grad=True), tensor([0, 2, 1, 1, 0, 2, 2, 1])
    tx = to_torch(x).requires_grad_()
    w = tensor([0.2, 1.0, 3.0], dtype=float64)
    for kw in [dict(weight=w), dict(ignore_index=2), dict(label_smoothing=0.1), dict(weight=w, reduction="sum")]:
        tkw = {k: (to_torch(v) if isinstance(v, Tensor) else v) for k, v in kw.items()}
        loss, tloss = nn.CrossEntropyLoss(**kw)(x, y), torch.nn.CrossEntropyLoss(**tkw)(tx, to_torch(y))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-12)
        x.grad = None; tx.grad = None
        loss.backward(); tloss.backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_out_of_range_target_raises_clearly():
    logits, target = randn(3, 4), tensor([0, 5, 1])
    with pytest.raises(IndexError) as theirs:
        torch.nn.CrossEntropyLoss()(to_torch(logits), to_torch(target))
    with pytest.raises((IndexError, RuntimeError, ValueError)) as ours:
        nn.CrossEntropyLoss()(logits, target)
    assert str(theirs.value) in str(ours.value)          # "Target 5 is out of bounds."
    with pytest.raises((IndexError, RuntimeError, ValueError), match="out of bounds"):
        nn.CrossEntropyLoss()(logits, tensor([0, -2, 1]))


def test_activation_modules_match_functional():
    x = randn(5, 3)
    for mod, fn in [(nn.ReLU(), F.relu), (nn.Tanh(), F.tanh), (nn.Sigmoid(), F.sigmoid)]:
        np.testing.assert_array_equal(mod(x).numpy(), fn(x).numpy())


# ---------------------------------------------------------------- zero_grad, train/eval
def test_zero_grad_none_vs_zeros():
    model = mlp([3, 4, 2])
    model(randn(5, 3)).sum().backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and np.abs(g.numpy()).sum() > 0 for g in grads)
    model.zero_grad(set_to_none=False)
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))         # same tensors, zeroed in place
    assert all(not g.numpy().any() and tuple(g.shape) == tuple(p.shape) for p, g in zip(model.parameters(), grads))
    model(randn(5, 3)).sum().backward()
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_gradients_accumulate_until_zeroed_like_torch():
    manual_seed(0)
    model = mlp([3, 4, 2], dtype=float64)
    twin = torch_twin(model)
    x = randn(5, 3, dtype=float64)
    for _ in range(2):
        model(x).sum().backward(); twin(to_torch(x)).sum().backward()
    for p, tp in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-12)


def test_train_eval_propagate_and_return_self():
    net = Net()
    assert net.training and all(m.training for m in net.modules())
    assert net.eval() is net and not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net.train(False)
    assert not net.head[1].training


# ---------------------------------------------------------------- Dropout
def test_dropout_eval_is_identity():
    x = randn(50, 20)
    d = nn.Dropout(0.7).eval()
    assert d(x) is x or np.array_equal(d(x).numpy(), x.numpy())


def test_dropout_train_keeps_the_expectation():
    manual_seed(0)
    n = 200_000
    for p in [0.1, 0.5, 0.8]:
        y = nn.Dropout(p)(ones(n)).numpy()
        kept = y != 0
        # kept elements are scaled by exactly 1/(1-p) (in float32), the rest are 0
        np.testing.assert_allclose(y[kept], np.float32(1 / (1 - p)), rtol=1e-6)
        sd_frac = math.sqrt(p * (1 - p) / n)
        assert abs((~kept).mean() - p) < 5 * sd_frac                 # zeroed with probability p
        assert abs(y.mean() - 1.0) < 5 * sd_frac / (1 - p)            # E[dropout(x)] = x


def test_dropout_gradient_is_the_scaled_mask():
    manual_seed(1)
    x = randn(1000, requires_grad=True)
    y = nn.Dropout(0.3)(x)
    y.sum().backward()
    mask = y.detach().numpy() != 0
    np.testing.assert_allclose(x.grad.numpy(), mask / np.float32(0.7), rtol=1e-6)


def test_dropout_edge_probabilities_and_validation():
    x = randn(10)
    assert np.array_equal(nn.Dropout(0.0)(x).numpy(), x.numpy())
    assert not nn.Dropout(1.0)(x).numpy().any()
    with pytest.raises(ValueError) as theirs: torch.nn.Dropout(1.5)
    with pytest.raises(ValueError) as ours: nn.Dropout(1.5)
    assert str(ours.value) == str(theirs.value)


def test_dropout_in_float64_keeps_dtype():
    assert nn.Dropout(0.5)(randn(4, dtype=float64)).dtype == float64


# ---------------------------------------------------------------- state_dict
def test_state_dict_keys_match_torch_and_values_are_detached_tensors():
    model = mlp([2, 5, 5, 3])
    sd = model.state_dict()
    assert list(sd) == list(torch_twin(model).state_dict())
    assert all(isinstance(v, Tensor) and not v.requires_grad for v in sd.values())
    with no_grad(): model[0].bias.fill_(7.0)
    assert (sd["0.bias"].numpy() == 7.0).all()                   # shares storage, like torch
    assert list(Net().state_dict()) == list(TNet().state_dict())


def test_state_dict_round_trip():
    manual_seed(0)
    a, b = mlp([2, 5, 3]), mlp([2, 5, 3])
    x = randn(4, 2)
    assert not np.allclose(a(x).detach().numpy(), b(x).detach().numpy())
    res = b.load_state_dict(a.state_dict())
    assert res.missing_keys == [] and res.unexpected_keys == [] and repr(res) == "<All keys matched successfully>"
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())
    with no_grad(): a[0].weight.fill_(0.0)                          # a copy, not shared storage
    assert b[0].weight.detach().numpy().any()
    assert all(p.requires_grad and p.is_leaf for p in b.parameters())


def test_state_dict_round_trip_through_torch():
    manual_seed(0)
    a = mlp([3, 6, 2], nn.Tanh, float64)
    twin = torch_twin(a)
    b = mlp([3, 6, 2], nn.Tanh, float64)
    b.load_state_dict(twin.state_dict())                               # torch tensors are accepted
    x = randn(4, 3, dtype=float64)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


def test_load_state_dict_errors_like_torch():
    model, twin = nn.Sequential(nn.Linear(2, 3)), torch.nn.Sequential(torch.nn.Linear(2, 3))
    bad = {"0.weight": np.zeros((3, 3), np.float32), "1.bias": np.zeros(3, np.float32)}
    with pytest.raises(RuntimeError) as theirs:
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in bad.items()})
    with pytest.raises(RuntimeError) as ours:
        model.load_state_dict(bad)
    msg = str(ours.value)
    assert msg.startswith("Error(s) in loading state_dict for Sequential:")
    for part in ['Missing key(s) in state_dict: "0.bias"', 'Unexpected key(s) in state_dict: "1.bias"', "size mismatch for 0.weight"]:
        assert part in msg and part in str(theirs.value)
    res = model.load_state_dict({"0.weight": np.ones((3, 2), np.float32), "extra": np.ones(1)}, strict=False)
    assert res.missing_keys == ["0.bias"] and res.unexpected_keys == ["extra"]
    assert (model[0].weight.detach().numpy() == 1).all()


# ---------------------------------------------------------------- to(device / dtype)
def test_to_keeps_parameter_objects_and_casts_floating_params():
    model = mlp([2, 4, 1])
    params = list(model.parameters())
    model(randn(3, 2)).sum().backward()
    assert model.double() is model
    assert all(p is q and p.dtype == float64 and p.grad.dtype == float64 for p, q in zip(model.parameters(), params))
    assert model(randn(3, 2, dtype=float64)).dtype == float64
    assert model.to(float32) is model and all(p.dtype == float32 for p in model.parameters())
    assert model.to("cpu") is model and all(str(p.device) == "cpu" for p in model.parameters())
    model.to("cpu", float64)
    assert all(p.dtype == float64 and p.requires_grad and p.is_leaf and isinstance(p, nn.Parameter) for p in model.parameters())


def test_functional_is_reachable_from_nn():
    import course_lib.nn.functional as F2
    from course_lib.nn import functional
    assert nn.functional is F2 is functional


def test_deepcopy_and_dir():
    import copy
    manual_seed(0)
    model = mlp([2, 4, 1])
    clone = copy.deepcopy(model)
    assert all(isinstance(p, nn.Parameter) and p is not q and np.array_equal(p.detach().numpy(), q.detach().numpy())
               for p, q in zip(clone.parameters(), model.parameters()))
    with no_grad(): clone[0].weight.fill_(0.0)
    assert model[0].weight.detach().numpy().any()
    assert "weight" in dir(model[0]) and "0" in dir(model)


def test_cross_entropy_with_every_target_ignored_is_nan_with_zero_gradient_like_torch():
    x = np.random.default_rng(0).standard_normal((3, 4))
    ours, theirs = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for w in (None, [1.0, 2.0, 0.5, 1.0]):
        ours.grad = None; theirs.grad = None
        l = F.cross_entropy(ours, tensor([-100, -100, -100]), weight=None if w is None else tensor(w, dtype=float64))
        tl = torch.nn.functional.cross_entropy(theirs, torch.tensor([-100] * 3), weight=None if w is None else torch.tensor(w, dtype=torch.float64))
        l.backward(); tl.backward()
        assert math.isnan(l.item()) and math.isnan(tl.item())
        assert np.array_equal(ours.grad.numpy(), theirs.grad.numpy())


# ---------------------------------------------------------------- buffers
class _Buffered:
    """The same module built on either library: a parameter, a float buffer, an integer buffer, a non-persistent one."""
    def __init__(self, lib, tensor_fn):
        lib.Module.__init__(self)
        self.w = lib.Parameter(tensor_fn([1.0, 2.0]))
        self.register_buffer("mean", tensor_fn([0.5, 0.25]))
        self.register_buffer("count", tensor_fn(3))
        self.register_buffer("scratch", tensor_fn([9.0]), persistent=False)
        self.register_buffer("empty", None)


class OurBuffered(_Buffered, nn.Module):
    def __init__(self): _Buffered.__init__(self, nn, tensor)


class TorchBuffered(_Buffered, torch.nn.Module):
    def __init__(self): _Buffered.__init__(self, torch.nn, torch.tensor)


def _pair_nested():
    return (nn.Sequential(nn.Linear(2, 2), OurBuffered()),
            torch.nn.Sequential(torch.nn.Linear(2, 2), TorchBuffered()))


def test_buffers_named_and_listed_like_torch():
    ours, theirs = _pair_nested()
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] == ["1.mean", "1.count", "1.scratch"]
    assert [n for n, _ in ours.named_buffers(prefix="m")] == [n for n, _ in theirs.named_buffers(prefix="m")]
    assert list(ours.named_buffers(recurse=False)) == [] == list(theirs.named_buffers(recurse=False))
    assert [b.tolist() for b in ours.buffers()] == [b.tolist() for b in theirs.buffers()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]   # buffers are no parameters
    assert ours[1].mean.tolist() == [0.5, 0.25] and ours[1].empty is None
    assert "mean" in dir(ours[1])


def test_state_dict_holds_persistent_buffers_only_in_torchs_order():
    ours, theirs = _pair_nested()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["0.weight", "0.bias", "1.w", "1.mean", "1.count"]
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert [v.tolist() for v in sd.values()][2:] == [v.tolist() for v in tsd.values()][2:]
    assert not any(v.requires_grad for v in sd.values())
    assert sd["1.mean"].numpy() is not None and np.shares_memory(sd["1.mean"].numpy(), ours[1].mean.numpy())


def test_buffers_load_from_our_state_dict_and_from_torchs():
    ours, theirs = _pair_nested()
    with torch.no_grad(): theirs[1].mean.fill_(7.0); theirs[1].count.fill_(11)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    assert ours[1].mean.tolist() == [7.0, 7.0] and ours[1].count.item() == 11
    assert ours[1].scratch.tolist() == [9.0]                      # non-persistent: neither saved nor loaded
    other = _pair_nested()[0]
    other.load_state_dict(ours.state_dict())
    assert other[1].mean.tolist() == [7.0, 7.0]
    bad = dict(ours.state_dict()); del bad["1.count"]
    with pytest.raises(RuntimeError) as e: other.load_state_dict(bad)
    tbad = dict(theirs.state_dict()); del tbad["1.count"]
    with pytest.raises(RuntimeError) as te: _pair_nested()[1].load_state_dict(tbad)
    assert str(e.value) == str(te.value)


def test_buffer_assignment_and_errors_like_torch():
    ours, theirs = OurBuffered(), TorchBuffered()
    ours.mean = tensor([1.0]); theirs.mean = torch.tensor([1.0])
    assert ours._buffers["mean"].tolist() == theirs._buffers["mean"].tolist()
    ours.mean = None; theirs.mean = None
    assert ours._buffers["mean"] is None and theirs._buffers["mean"] is None
    ours.mean = nn.Parameter(tensor([1.0])); theirs.mean = torch.nn.Parameter(torch.tensor([1.0]))   # moves to the parameters
    assert "mean" in ours._parameters and "mean" not in ours._buffers and "mean" in theirs._parameters
    del ours.count; del theirs.count
    assert "count" not in ours._buffers and "count" not in theirs._buffers
    ours.y = 1; theirs.y = 1
    for call in (lambda m, t: m.register_buffer(3, t), lambda m, t: m.register_buffer("a.b", t),
                 lambda m, t: m.register_buffer("", t), lambda m, t: m.register_buffer("y", t),
                 lambda m, t: m.register_buffer("w", t), lambda m, t: m.register_buffer("z", 3)):
        with pytest.raises((TypeError, KeyError)) as e: call(ours, tensor([1.0]))
        with pytest.raises((TypeError, KeyError)) as te: call(theirs, torch.tensor([1.0]))
        assert type(e.value) is type(te.value)
        assert str(e.value).replace("torch ", "") == str(te.value).replace("torch ", "")
    with pytest.raises(TypeError, match=r"cannot assign 'int' as buffer 'scratch' \(Tensor or None expected\)"): ours.scratch = 3
    with pytest.raises(TypeError, match=r"cannot assign 'int' as buffer 'scratch'"): theirs.scratch = 3


def test_to_double_float_convert_floating_buffers_and_keep_integer_ones_like_torch():
    ours, theirs = _pair_nested()
    ours.double(); theirs.double()
    assert [str(b.dtype).split(".")[-1] for b in ours.buffers()] == [str(b.dtype).split(".")[-1] for b in theirs.buffers()] \
        == ["float64", "int64", "float64"]
    assert all(p.dtype == float64 for p in ours.parameters())
    ours.float(); theirs.float()
    assert [str(b.dtype).split(".")[-1] for b in ours.buffers()] == [str(b.dtype).split(".")[-1] for b in theirs.buffers()]
    ours.to(float64)
    assert ours[1].mean.dtype == float64 and ours[1].count.tolist() == 3


def test_train_recurses_through_train_so_overrides_are_obeyed_and_mode_must_be_bool():
    calls = []
    class Frozen(nn.Module):
        def train(self, mode=True):
            calls.append(mode); return super().train(False)
    class TFrozen(torch.nn.Module):
        def train(self, mode=True):
            calls.append(mode); return super().train(False)
    ours, theirs = nn.Sequential(nn.Linear(1, 1), Frozen()), torch.nn.Sequential(torch.nn.Linear(1, 1), TFrozen())
    ours.train(); theirs.train()
    assert [m.training for m in ours.modules()] == [m.training for m in theirs.modules()] == [True, True, False]
    assert calls == [True, True]
    with pytest.raises(ValueError) as e: ours.train("yes")
    with pytest.raises(ValueError) as te: theirs.train("yes")
    assert str(e.value) == str(te.value)


# ---------------------------------------------------------------- ModuleList / ModuleDict
def _lists():
    ours = nn.ModuleList([nn.Linear(2, 2), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 3)])
    theirs = torch.nn.ModuleList([torch.nn.Linear(2, 2), torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 3)])
    return ours, theirs


def test_module_list_repr_groups_repeats_like_torch():
    ours, theirs = _lists()
    assert repr(ours) == repr(theirs)
    assert repr(nn.ModuleList()) == repr(torch.nn.ModuleList())
    nest_o = nn.Sequential(nn.ModuleList([nn.Tanh(), nn.Tanh()]), nn.ModuleList([nn.Sequential(nn.ReLU())] * 2))
    nest_t = torch.nn.Sequential(torch.nn.ModuleList([torch.nn.Tanh(), torch.nn.Tanh()]),
                                 torch.nn.ModuleList([torch.nn.Sequential(torch.nn.ReLU())] * 2))
    assert repr(nest_o) == repr(nest_t)


def test_module_list_behaves_like_torchs():
    ours, theirs = _lists()
    names = lambda m: [type(x).__name__ for x in m]
    assert len(ours) == len(theirs) and names(ours) == names(theirs)
    assert type(ours[-1]).__name__ == "Linear" and ours[-1].out_features == 3
    assert type(ours[1:3]).__name__ == "ModuleList" and names(ours[1:3]) == names(theirs[1:3])
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for op in (lambda m, lib: m.insert(1, lib.Tanh()), lambda m, lib: m.append(lib.Sigmoid()),
               lambda m, lib: m.extend([lib.ReLU(), lib.Tanh()]), lambda m, lib: m.__delitem__(0),
               lambda m, lib: m.__delitem__(slice(1, 3)), lambda m, lib: m.pop(-2),
               lambda m, lib: m.__setitem__(-1, lib.Sigmoid()), lambda m, lib: m.__iadd__([lib.ReLU()])):
        op(ours, nn); op(theirs, torch.nn)
        assert names(ours) == names(theirs) and list(ours._modules) == list(theirs._modules)
    assert names(ours + nn.ModuleList([nn.Tanh()])) == names(theirs + torch.nn.ModuleList([torch.nn.Tanh()]))
    for call in (lambda m: m[10], lambda m: m.extend(3), lambda m: type(m)([3]), lambda m: m(1)):
        with pytest.raises(Exception) as e: call(ours)
        with pytest.raises(Exception) as te: call(theirs)
        assert type(e.value) is type(te.value) and str(e.value) == str(te.value)


def test_module_dict_behaves_like_torchs():
    ours = nn.ModuleDict({"a": nn.ReLU(), "b": nn.Linear(1, 2)})
    theirs = torch.nn.ModuleDict({"a": torch.nn.ReLU(), "b": torch.nn.Linear(1, 2)})
    assert repr(ours) == repr(theirs) and repr(nn.ModuleDict()) == repr(torch.nn.ModuleDict())
    assert list(ours) == list(theirs) and "a" in ours and len(ours) == 2
    ours["c"] = nn.Tanh(); theirs["c"] = torch.nn.Tanh()
    ours.update([("d", nn.Sigmoid())]); theirs.update([("d", torch.nn.Sigmoid())])
    ours.update(nn.ModuleDict({"e": nn.ReLU()})); theirs.update(torch.nn.ModuleDict({"e": torch.nn.ReLU()}))
    assert type(ours.pop("a")).__name__ == type(theirs.pop("a")).__name__ == "ReLU"
    del ours["c"]; del theirs["c"]
    assert list(ours.keys()) == list(theirs.keys()) and repr(ours) == repr(theirs)
    assert [type(v).__name__ for v in ours.values()] == [type(v).__name__ for v in theirs.values()]
    assert [k for k, _ in ours.items()] == [k for k, _ in theirs.items()]
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    for call in (lambda m: m["zz"], lambda m: m.update(3), lambda m: m.update([3]), lambda m: m.update([("a",)])):
        with pytest.raises(Exception) as e: call(ours)
        with pytest.raises(Exception) as te: call(theirs)
        assert type(e.value) is type(te.value) and str(e.value) == str(te.value)
    ours.clear(); theirs.clear()
    assert len(ours) == len(theirs) == 0


# ---------------------------------------------------------------- more activations (chapter 5's F.*, chapter 7's modules)
from hypothesis import given, settings, strategies as st
import course_lib as cl
from helpers import assert_same_tensor

ACT_TOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=1e-5, atol=1e-6)}
ACTS = [("gelu", {}), ("gelu", dict(approximate="tanh")), ("silu", {}), ("leaky_relu", {}), ("leaky_relu", dict(negative_slope=0.3)),
        ("elu", {}), ("elu", dict(alpha=0.4)), ("softplus", {}), ("softplus", dict(beta=3.0, threshold=5.0)),
        ("hardtanh", {}), ("hardtanh", dict(min_val=-0.5, max_val=2.0))]
EDGES = np.array([-40., -20., -3., -1., -0.5, 0., 0.5, 1., 1.7, 3., 6.0, 20., 40.])   # every kink, threshold and bound region


def _act_both(name, kw, x, dtype, device="cpu"):
    ours = cl.tensor(x, dtype=getattr(cl, dtype), device=device, requires_grad=True)
    theirs = torch.tensor(x, dtype=getattr(torch, dtype), device=device, requires_grad=True)
    out, tout = getattr(F, name)(ours, **kw), getattr(torch.nn.functional, name)(theirs, **kw)
    assert_same_tensor(out, tout, f"{name} value", **ACT_TOL[dtype])
    assert out.grad_fn.name() == tout.grad_fn.name()
    g = np.random.default_rng(1).standard_normal(x.shape)
    out.backward(cl.tensor(g, dtype=getattr(cl, dtype), device=device))
    tout.backward(torch.tensor(g, dtype=getattr(torch, dtype), device=device))
    assert_same_tensor(ours.grad, theirs.grad, f"{name} gradient", **ACT_TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,kw", ACTS, ids=str)
def test_new_activations_values_and_gradients_match_torch(name, kw, dtype, device):
    _act_both(name, kw, EDGES, dtype, device)
    _act_both(name, kw, np.random.default_rng(2).standard_normal((3, 4, 5)) * 4, dtype, device)


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 4), min_size=0, max_size=4), which=st.integers(0, len(ACTS) - 1),
       scale=st.sampled_from([0.1, 1.0, 10.0]), seed=st.integers(0, 2**16))
def test_new_activations_over_shapes_match_torch(shape, which, scale, seed):
    name, kw = ACTS[which]
    _act_both(name, kw, np.random.default_rng(seed).standard_normal(shape) * scale, "float64")


def test_new_activations_pass_gradcheck():
    x = cl.tensor(np.random.default_rng(3).standard_normal((4, 5)) * 2 + 0.05, dtype=float64, requires_grad=True)   # off the kinks
    for name, kw in ACTS:
        assert cl.gradcheck(lambda t: getattr(F, name)(t, **kw), [x]), name


@pytest.mark.parametrize("name,kw", [(n, k) for n, k in ACTS if n in ("silu", "leaky_relu", "elu", "hardtanh")], ids=str)
def test_inplace_activations_write_into_the_input_and_backpropagate_like_torch(name, kw):
    x = np.random.default_rng(4).standard_normal(6) * 2
    a, ta = cl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    b, tb = a * 1, ta * 1
    out, tout = getattr(F, name)(b, inplace=True, **kw), getattr(torch.nn.functional, name)(tb, inplace=True, **kw)
    assert out is b and tout is tb
    assert_same_tensor(b, tb, "in-place result", **ACT_TOL["float64"])
    (out * out).sum().backward(); (tout * tout).sum().backward()
    assert_same_tensor(a.grad, ta.grad, "gradient through the in-place op", **ACT_TOL["float64"])
    plain = cl.tensor(x.copy())
    getattr(F, name)(plain, inplace=True, **kw)
    assert np.allclose(plain.numpy(), getattr(torch.nn.functional, name)(torch.tensor(x), **kw).numpy())
    with pytest.raises(RuntimeError) as e: getattr(F, name)(cl.tensor(x, requires_grad=True), inplace=True, **kw)
    with pytest.raises(RuntimeError) as te: getattr(torch.nn.functional, name)(torch.tensor(x, requires_grad=True), inplace=True, **kw)
    assert str(e.value) == str(te.value)


def test_new_activation_errors_match_torch():
    calls = [lambda F, t: F.gelu(t([1, 2])), lambda F, t: F.silu(t([1, 2])), lambda F, t: F.leaky_relu(t([1, -2])),
             lambda F, t: F.elu(t([1, -2])), lambda F, t: F.softplus(t([1, -2])), lambda F, t: F.gelu(t([1.0]), approximate="exact"),
             lambda F, t: F.hardtanh(t([1.0]), 1.0, -1.0), lambda F, t: F.gelu(t([True]))]
    for call in calls:
        with pytest.raises(Exception) as e: call(F, cl.tensor)
        with pytest.raises(Exception) as te: call(torch.nn.functional, torch.tensor)
        assert type(e.value) is type(te.value) and str(e.value) == str(te.value)
    assert F.hardtanh(cl.tensor([3, -5, 0])).tolist() == torch.nn.functional.hardtanh(torch.tensor([3, -5, 0])).tolist()
    assert F.hardtanh(cl.tensor([3, -5, 0])).dtype == cl.int64
    with pytest.raises(AssertionError) as e: nn.Hardtanh(1.0, -1.0)
    with pytest.raises(AssertionError) as te: torch.nn.Hardtanh(1.0, -1.0)
    assert str(e.value) == str(te.value)


def _act_modules(lib):
    return [lib.GELU(), lib.GELU(approximate="tanh"), lib.SiLU(), lib.SiLU(inplace=True), lib.LeakyReLU(), lib.LeakyReLU(0.2, True),
            lib.ELU(), lib.ELU(alpha=0.5, inplace=True), lib.Softplus(), lib.Softplus(beta=2, threshold=10),
            lib.Hardtanh(), lib.Hardtanh(-2, 2, True), lib.Hardtanh(0.0, 6.0), lib.Identity(), lib.Identity(3, a=4)]


def test_new_activation_modules_reprs_and_outputs_match_torch():
    ours, theirs = _act_modules(nn), _act_modules(torch.nn)
    assert [repr(m) for m in ours] == [repr(m) for m in theirs]
    x = np.random.default_rng(5).standard_normal((3, 4)) * 3
    for m, tm in zip(ours, theirs):
        a, ta = cl.tensor(x) * 1, torch.tensor(x) * 1
        assert np.allclose(m(a).numpy(), tm(ta).numpy(), rtol=1e-10, atol=1e-12), repr(m)
    ident = cl.tensor(x)
    assert nn.Identity()(ident) is ident
    assert not list(nn.GELU().parameters()) and nn.Sequential(nn.Linear(2, 2), nn.SiLU())(randn(3, 2)).shape == (3, 2)


# ---------------------------------------------------------------- Module's tree API, reprs, name checks (issue 15)
class _Extra(nn.Module):
    def __init__(self): super().__init__(); self.inner = nn.Linear(2, 2)
    def extra_repr(self): return "first line\n\nthird line"           # a blank line: torch keeps it empty when indenting


class _TExtra(torch.nn.Module):
    def __init__(self): super().__init__(); self.inner = torch.nn.Linear(2, 2)
    def extra_repr(self): return "first line\n\nthird line"


def test_nested_print_matches_torch_exactly():
    ours = nn.Sequential(nn.Sequential(_Extra(), nn.ModuleList([nn.ReLU(), nn.ReLU()])), nn.ModuleDict({"head": nn.Linear(2, 3)}),
                         nn.BatchNorm1d(3), nn.Dropout(0.1))
    theirs = torch.nn.Sequential(torch.nn.Sequential(_TExtra(), torch.nn.ModuleList([torch.nn.ReLU(), torch.nn.ReLU()])),
                                 torch.nn.ModuleDict({"head": torch.nn.Linear(2, 3)}), torch.nn.BatchNorm1d(3), torch.nn.Dropout(0.1))
    assert str(ours).replace("_Extra", "X") == str(theirs).replace("_TExtra", "X")
    ours.add_module("gone", None); theirs.add_module("gone", None)
    assert str(ours).replace("_Extra", "X") == str(theirs).replace("_TExtra", "X")


def test_named_modules_children_and_remove_duplicate_like_torch():
    shared, tshared = nn.Linear(2, 2), torch.nn.Linear(2, 2)
    ours, theirs = nn.Sequential(shared, nn.ReLU(), shared), torch.nn.Sequential(tshared, torch.nn.ReLU(), tshared)
    for kw in (dict(), dict(remove_duplicate=False), dict(prefix="m")):
        assert [n for n, _ in ours.named_modules(**kw)] == [n for n, _ in theirs.named_modules(**kw)]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.modules())) == len(list(theirs.modules())) and len(list(ours.children())) == len(list(theirs.children()))


def test_requires_grad_freezes_and_unfreezes_like_torch():
    ours = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 1))
    assert ours[0].requires_grad_(False) is ours[0]
    theirs[0].requires_grad_(False)
    assert [p.requires_grad for p in ours.parameters()] == [p.requires_grad for p in theirs.parameters()] == [False, False, True, True]
    ours(randn(4, 2)).sum().backward()
    assert ours[0].weight.grad is None and ours[1].weight.grad is not None
    ours.requires_grad_(); theirs.requires_grad_()
    assert all(p.requires_grad for p in ours.parameters())


@pytest.mark.parametrize("call", [
    lambda nn, t: nn.Module().add_module(3, nn.ReLU()), lambda nn, t: nn.Module().add_module("a.b", nn.ReLU()),
    lambda nn, t: nn.Module().add_module("", nn.ReLU()), lambda nn, t: nn.Module().add_module("train", nn.ReLU()),
    lambda nn, t: nn.Module().add_module("x", 3),
    lambda nn, t: nn.Module().register_parameter(3, None), lambda nn, t: nn.Module().register_parameter("a.b", None),
    lambda nn, t: nn.Module().register_parameter("", None), lambda nn, t: nn.Module().register_parameter("eval", None),
    lambda nn, t: nn.ModuleDict({"keys": nn.ReLU()}),
])
def test_registration_name_errors_match_torch(call):
    with pytest.raises(Exception) as e: call(nn, tensor)
    with pytest.raises(Exception) as te: call(torch.nn, torch.tensor)
    assert type(e.value) is type(te.value) and str(e.value) == str(te.value)


# ---------------------------------------------------------------- Softmax, LogSoftmax and the loss modules
def test_softmax_modules_match_torch():
    x = np.random.default_rng(6).standard_normal((3, 4))
    for dim in (0, 1, -1):
        for cls in ("Softmax", "LogSoftmax"):
            ours, theirs = getattr(nn, cls)(dim), getattr(torch.nn, cls)(dim)
            assert repr(ours) == repr(theirs)
            np.testing.assert_allclose(ours(tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-12)
    assert repr(nn.Softmax()) == repr(torch.nn.Softmax()) == "Softmax(dim=None)"
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"): nn.Softmax()(tensor(x))


def _loss_pairs():
    w, pw = np.array([0.5, 2.0, 1.0]), np.array([1.0, 3.0, 0.5])
    return [("MSELoss", {}, "reg"), ("MSELoss", dict(reduction="sum"), "reg"), ("L1Loss", {}, "reg"), ("L1Loss", dict(reduction="none"), "reg"),
            ("HuberLoss", dict(delta=0.5), "reg"), ("HuberLoss", dict(reduction="sum"), "reg"), ("SmoothL1Loss", dict(beta=0.3), "reg"),
            ("SmoothL1Loss", dict(beta=0.0, reduction="sum"), "reg"), ("L1Loss", dict(size_average=False), "reg"),
            ("CrossEntropyLoss", {}, "cls"), ("CrossEntropyLoss", dict(weight=w, label_smoothing=0.1), "cls"),
            ("NLLLoss", dict(weight=w, ignore_index=1), "cls"), ("NLLLoss", dict(reduction="sum"), "cls"),
            ("BCELoss", {}, "prob"), ("BCELoss", dict(weight=w, reduction="none"), "prob"),
            ("BCEWithLogitsLoss", dict(pos_weight=pw), "bin"), ("BCEWithLogitsLoss", dict(weight=w, reduction="sum"), "bin")]


@pytest.mark.parametrize("cls,kw,kind", _loss_pairs(), ids=lambda v: str(v))
def test_loss_modules_values_gradients_reprs_and_buffers_match_torch(cls, kw, kind):
    r = np.random.default_rng(7)
    x = {"reg": r.standard_normal((4, 3)) * 2, "cls": r.standard_normal((4, 3)), "prob": r.uniform(0.05, 0.95, (4, 3)),
         "bin": r.standard_normal((4, 3))}[kind]
    y = {"reg": r.standard_normal((4, 3)), "cls": np.array([0, 2, 1, 2]), "prob": r.uniform(0, 1, (4, 3)),
         "bin": (r.uniform(0, 1, (4, 3)) > 0.5).astype(np.float64)}[kind]
    as_ours = {k: tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    as_theirs = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always"); ours = getattr(nn, cls)(**as_ours)
    with warnings.catch_warnings(record=True) as w_theirs:
        warnings.simplefilter("always"); theirs = getattr(torch.nn, cls)(**as_theirs)
    assert [str(m.message) for m in w_ours] == [str(m.message) for m in w_theirs]   # size_average's deprecation
    assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
    assert ours.reduction == theirs.reduction
    a, ta = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = ours(a, tensor(y)), theirs(ta, torch.tensor(y))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = np.random.default_rng(8).standard_normal(tout.shape)
    out.backward(tensor(g)); tout.backward(torch.tensor(g))
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------- F.l1_loss, huber_loss, smooth_l1_loss
ROBUST = [("l1_loss", {}), ("huber_loss", {}), ("huber_loss", dict(delta=0.3)), ("smooth_l1_loss", {}), ("smooth_l1_loss", dict(beta=2.5)),
          ("smooth_l1_loss", dict(beta=0.0))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,kw", ROBUST, ids=str)
def test_robust_losses_match_torch(name, kw, reduction, dtype, device):
    r = np.random.default_rng(9)
    x, y = np.concatenate([r.standard_normal(8) * 3, [0.3, -0.3, 2.5, 0.0]]), np.concatenate([r.standard_normal(8), [0.0, 0.0, 0.0, 0.0]])
    ours = [cl.tensor(v, dtype=getattr(cl, dtype), device=device, requires_grad=True) for v in (x, y)]
    theirs = [torch.tensor(v, dtype=getattr(torch, dtype), device=device, requires_grad=True) for v in (x, y)]
    out = getattr(F, name)(*ours, reduction=reduction, **kw)
    tout = getattr(torch.nn.functional, name)(*theirs, reduction=reduction, **kw)
    assert_same_tensor(out, tout, f"{name} value", **ACT_TOL[dtype])
    assert out.grad_fn.name() == tout.grad_fn.name()
    g = np.random.default_rng(10).standard_normal(tuple(tout.shape))
    out.backward(cl.tensor(g, dtype=getattr(cl, dtype), device=device)); tout.backward(torch.tensor(g, dtype=getattr(torch, dtype), device=device))
    for o, t in zip(ours, theirs): assert_same_tensor(o.grad, t.grad, f"{name} gradient", **ACT_TOL[dtype])


@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), which=st.integers(0, len(ROBUST) - 1),
       reduction=st.sampled_from(["mean", "sum", "none"]), seed=st.integers(0, 2**16))
def test_robust_losses_over_shapes_match_torch(shape, which, reduction, seed):
    name, kw = ROBUST[which]
    r = np.random.default_rng(seed)
    x, y = r.standard_normal(shape) * 2, r.standard_normal(shape)
    a, ta = tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = getattr(F, name)(a, tensor(y), reduction=reduction, **kw), getattr(torch.nn.functional, name)(ta, torch.tensor(y), reduction=reduction, **kw)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    (out * out).sum().backward(); (tout * tout).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_robust_losses_gradcheck_warnings_and_errors_like_torch():
    r = np.random.default_rng(11)
    x, y = (cl.tensor(r.standard_normal((3, 4)) * 2, dtype=float64, requires_grad=True) for _ in range(2))
    for name, kw in ROBUST[1:-1]:
        assert cl.gradcheck(lambda a, b: getattr(F, name)(a, b, **kw), [x, y]), name
    for name in ("l1_loss", "huber_loss", "smooth_l1_loss"):
        with pytest.warns(UserWarning) as ours: getattr(F, name)(tensor([[1.0], [2.0]]), tensor([1.0, 2.0]))
        with pytest.warns(UserWarning) as theirs: getattr(torch.nn.functional, name)(torch.tensor([[1.0], [2.0]]), torch.tensor([1.0, 2.0]))
        assert str(ours[0].message).replace("course_lib.", "torch.") == str(theirs[0].message)
    for call in (lambda F, t: F.huber_loss(t([1.0]), t([0.0]), delta=0.0), lambda F, t: F.smooth_l1_loss(t([1.0]), t([0.0]), beta=-1.0),
                 lambda F, t: F.l1_loss(t([1.0]), t([0.0]), reduction="avg")):
        with pytest.raises(Exception) as e: call(F, tensor)
        with pytest.raises(Exception) as te: call(torch.nn.functional, torch.tensor)
        assert type(e.value) is type(te.value) and str(e.value) == str(te.value)


# ---------------------------------------------------------------- nn.utils
def _utils_pair(seed=12):
    manual_seed(seed)
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    theirs.load_state_dict({k: to_torch(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(seed).standard_normal((5, 3)).astype(np.float32)
    (ours(tensor(x)) * 10).sum().backward(); (theirs(torch.tensor(x)) * 10).sum().backward()
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    ours, theirs = _utils_pair()
    n = nn.utils.clip_grad_norm_(ours.parameters(), max_norm, norm_type)
    tn = torch.nn.utils.clip_grad_norm_(theirs.parameters(), max_norm, norm_type)
    assert n.dtype == float32 and n.shape == () and np.isclose(n.item(), tn.item(), rtol=1e-5)
    for p, tp in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), rtol=1e-5, atol=1e-7)
    one = ours[0].weight
    assert np.isclose(nn.utils.clip_grad_norm_(one, 0.1).item(), torch.nn.utils.clip_grad_norm_(theirs[0].weight, 0.1).item(), rtol=1e-5)


def test_clip_grad_norm_edge_cases_like_torch():
    assert nn.utils.clip_grad_norm_([], 1.0).item() == torch.nn.utils.clip_grad_norm_([], 1.0).item() == 0.0
    assert nn.utils.clip_grad_norm_([nn.Parameter(tensor([1.0]))], 1.0).item() == 0.0          # no gradients yet
    p, tp = nn.Parameter(tensor([1.0, 2.0])), torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    p.grad, tp.grad = tensor([float("nan"), 1.0]), torch.tensor([float("nan"), 1.0])
    with pytest.raises(RuntimeError) as e: nn.utils.clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    with pytest.raises(RuntimeError) as te: torch.nn.utils.clip_grad_norm_([tp], 1.0, error_if_nonfinite=True)
    assert str(e.value) == str(te.value)
    assert math.isnan(nn.utils.clip_grad_norm_([p], 1.0).item())


def test_parameters_to_vector_and_back_match_torch():
    ours, theirs = _utils_pair()
    v, tv = nn.utils.parameters_to_vector(ours.parameters()), torch.nn.utils.parameters_to_vector(theirs.parameters())
    np.testing.assert_array_equal(v.detach().numpy(), tv.detach().numpy())
    assert v.requires_grad and v.shape == (sum(p.numel() for p in ours.parameters()),)
    new = np.arange(v.shape[0], dtype=np.float32)
    weights_before = [id(p) for p in ours.parameters()]
    nn.utils.vector_to_parameters(tensor(new), ours.parameters()); torch.nn.utils.vector_to_parameters(torch.tensor(new), theirs.parameters())
    for p, tp in zip(ours.parameters(), theirs.parameters()): np.testing.assert_array_equal(p.detach().numpy(), tp.detach().numpy())
    assert [id(p) for p in ours.parameters()] == weights_before and all(isinstance(p, nn.Parameter) for p in ours.parameters())
    with pytest.raises(TypeError) as e: nn.utils.vector_to_parameters(3, ours.parameters())
    with pytest.raises(TypeError) as te: torch.nn.utils.vector_to_parameters(3, theirs.parameters())
    assert str(e.value) == str(te.value)


# ---------------------------------------------------------------- GELU's vectorised erf (Cody's approximations)
def test_vectorised_erf_is_exact_to_float64_rounding_against_torch_and_math():
    "The CPU erf behind F.gelu: every branch of Cody's approximations (|x| <= 0.46875, up to 4, beyond) and its edges."
    from course_lib.nn._activation import _erf
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-8, 8, 40001), rng.standard_normal(20000) * 3, rng.standard_normal(2000) * 1e-8,
                        [0.0, 0.46875, -0.46875, 4.0, -4.0, 5.9, 26.5, 27.3, 40.0, 1e-300, 5e-324, np.inf, -np.inf],
                        np.nextafter([0.46875, 4.0], 10), np.nextafter([0.46875, 4.0], 0)])
    ours, theirs = _erf(x), torch.special.erf(torch.tensor(x)).numpy()
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, theirs, rtol=1e-15, atol=0)
    np.testing.assert_allclose(ours, [math.erf(v) for v in x], rtol=1e-15, atol=0)
    assert np.isnan(_erf(np.array([np.nan]))).all() and np.signbit(_erf(np.array([-0.0]))).all()
    x32 = x.astype(np.float32)     # float32: computed in float64, then rounded like torch's float32 kernel (within one ulp)
    np.testing.assert_allclose(_erf(x32), torch.special.erf(torch.tensor(x32)).numpy(), rtol=2e-7, atol=1e-30)
    assert _erf(x32).dtype == np.float32


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_float64_values_and_gradients_match_torch_tightly(approximate):
    x = np.concatenate([np.random.default_rng(5).standard_normal(5000) * 4, EDGES])
    ours, theirs = cl.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = F.gelu(ours, approximate=approximate), torch.nn.functional.gelu(theirs, approximate=approximate)
    # atol: for x << 0 both compute x * (1 + erf(x/sqrt 2)) / 2, whose 1 + erf cancels: equal to ~1e-16 absolute, not relative
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-14, atol=2e-15)
    out.sum().backward(); tout.sum().backward()
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-14, atol=1e-14)   # tanh: 1 + t and 1 - t*t cancel too


@pytest.mark.parametrize("kw", [dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True)], ids=str)
def test_deprecated_size_average_and_reduce_warn_like_torch(kw):
    x, y = np.arange(6.0).reshape(2, 3), np.ones((2, 3))
    with pytest.warns(UserWarning) as ours:
        out = F.l1_loss(cl.tensor(x), cl.tensor(y), **kw)
    with pytest.warns(UserWarning) as theirs:
        tout = torch.nn.functional.l1_loss(torch.tensor(x), torch.tensor(y), **kw)
    assert [str(m.message) for m in ours] == [str(m.message) for m in theirs]
    assert ours[0].filename == __file__   # pointed at the caller, not at course_lib's helper
    np.testing.assert_allclose(out.numpy(), tout.numpy())
