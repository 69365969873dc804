"""course_lib.utils.data: seeded toy datasets and the DataLoader (torch's DataLoader as the reference for batching)."""
import math
import numpy as np
import pytest
import torch

from course_lib.utils.data import make_moons, make_spirals, make_regression_curve, TensorDataset, DataLoader, default_collate
import course_lib as cl
from course_lib import Tensor, tensor, manual_seed, arange, randn, float32, int64


# ---------------------------------------------------------------- generators
@pytest.mark.parametrize("make,kw", [(make_moons, dict(n_samples=101, noise=0.1)),
                                     (make_spirals, dict(n_classes=4, n_per_class=25, noise=0.2)),
                                     (make_regression_curve, dict(n=50, noise=0.1))], ids=["moons", "spirals", "curve"])
def test_generators_are_seeded(make, kw):
    a, b, c = make(**kw, seed=7), make(**kw, seed=7), make(**kw, seed=8)
    assert all(isinstance(t, Tensor) for t in a)
    assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(a, b))
    assert not np.array_equal(a[0].numpy(), c[0].numpy())
    manual_seed(0); d = make(**kw)                    # seed=None draws from course_lib's generator
    manual_seed(0); e = make(**kw)
    assert all(np.array_equal(u.numpy(), v.numpy()) for u, v in zip(d, e))


def test_make_moons_shapes_dtypes_and_geometry():
    X, y = make_moons(101, noise=0.0, seed=0)
    assert tuple(X.shape) == (101, 2) and X.dtype == float32 and tuple(y.shape) == (101,) and y.dtype == int64
    assert np.bincount(y.numpy()).tolist() == [50, 51]
    x, lab = X.numpy().astype(np.float64), y.numpy()
    upper, lower = x[lab == 0], x[lab == 1]
    np.testing.assert_allclose(np.hypot(upper[:, 0], upper[:, 1]), 1.0, atol=1e-6)            # unit half circle
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)  # shifted one
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 0.5 + 1e-6).all()
    assert not (np.diff(lab) >= 0).all()                                                     # rows shuffled
    Xn, _ = make_moons(2000, noise=0.2, seed=0)
    assert np.abs(Xn.numpy()).max() > 1.2                                                    # noise was added


def test_make_spirals_shapes_and_radius():
    X, y = make_spirals(n_classes=5, n_per_class=40, noise=0.3, seed=0)
    assert tuple(X.shape) == (200, 2) and X.dtype == float32 and y.dtype == int64
    assert np.bincount(y.numpy()).tolist() == [40] * 5
    r = np.hypot(*X.numpy().T)
    assert r.max() <= 1.0 + 1e-6 and r.min() >= 0                  # noise is on the angle only
    for k in range(5): assert np.isclose(np.sort(r[y.numpy() == k]), np.linspace(0, 1, 40), atol=1e-6).all()


def test_make_regression_curve_is_noisy_sin():
    X, y = make_regression_curve(n=4000, noise=0.1, seed=0)
    assert tuple(X.shape) == (4000, 1) and tuple(y.shape) == (4000, 1) and X.dtype == y.dtype == float32
    x = X.numpy()[:, 0].astype(np.float64)
    assert (np.diff(x) >= 0).all() and x.min() >= -3 and x.max() <= 3
    resid = y.numpy()[:, 0] - (np.sin(x) + 0.3 * x)
    assert abs(resid.mean()) < 0.01 and abs(resid.std() - 0.1) < 0.01


# ---------------------------------------------------------------- TensorDataset
def test_tensor_dataset():
    X, y = randn(6, 2), arange(6)
    ds = TensorDataset(X, y)
    assert len(ds) == 6
    xi, yi = ds[3]
    assert xi.tolist() == X.numpy()[3].tolist() and yi.item() == 3
    with pytest.raises(ValueError, match="Size mismatch between tensors"):
        TensorDataset(X, arange(5))


# ---------------------------------------------------------------- DataLoader
@pytest.mark.parametrize("n,bs,drop_last", [(10, 4, False), (10, 4, True), (12, 4, False), (3, 5, False), (3, 5, True)])
def test_batches_without_shuffle_match_torch(n, bs, drop_last):
    X = tensor(np.arange(2 * n, dtype=np.float32).reshape(n, 2))
    y = arange(n)
    ours = list(DataLoader((X, y), batch_size=bs, drop_last=drop_last))
    theirs = list(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(X.numpy()), torch.from_numpy(y.numpy())),
                                              batch_size=bs, drop_last=drop_last))
    assert len(DataLoader((X, y), batch_size=bs, drop_last=drop_last)) == len(ours) == len(theirs)
    for (xb, yb), (txb, tyb) in zip(ours, theirs):
        assert xb.dtype == float32 and yb.dtype == int64
        assert np.array_equal(xb.numpy(), txb.numpy()) and np.array_equal(yb.numpy(), tyb.numpy())


def test_shuffle_visits_every_sample_once_per_epoch_and_is_seeded():
    n = 23
    X, y = randn(n, 3), arange(n)
    dl = DataLoader((X, y), batch_size=5, shuffle=True, generator=cl.Generator().manual_seed(0))
    epochs = [np.concatenate([yb.numpy() for _, yb in dl]) for _ in range(3)]
    for order in epochs:
        assert sorted(order.tolist()) == list(range(n))
    assert not np.array_equal(epochs[0], epochs[1])                         # a new permutation every epoch
    assert not np.array_equal(epochs[0], np.arange(n))
    again = DataLoader((X, y), batch_size=5, shuffle=True, generator=cl.Generator().manual_seed(0))
    assert all(np.array_equal(e, np.concatenate([yb.numpy() for _, yb in again])) for e in epochs[:1])
    for xb, yb in DataLoader((X, y), batch_size=5, shuffle=True, generator=cl.Generator().manual_seed(1)):   # rows stay paired
        assert np.array_equal(xb.numpy(), X.numpy()[yb.numpy()])


def test_shuffle_without_seed_follows_manual_seed():
    y = arange(30)
    manual_seed(5); a = [yb.tolist() for yb in DataLoader(y, batch_size=30, shuffle=True)]
    manual_seed(5); b = [yb.tolist() for yb in DataLoader(y, batch_size=30, shuffle=True)]
    assert a == b and a[0] != list(range(30))


def test_single_tensor_gives_tensor_batches():
    batches = list(DataLoader(arange(7), batch_size=3))
    assert all(isinstance(b, Tensor) for b in batches) and [b.tolist() for b in batches] == [[0, 1, 2], [3, 4, 5], [6]]


def test_batches_do_not_require_grad_and_a_model_can_consume_them():
    X, y = make_moons(20, noise=0.1, seed=0)
    for xb, yb in DataLoader((X, y), batch_size=8, shuffle=True, generator=cl.Generator().manual_seed(0)):
        assert not xb.requires_grad and xb.shape[1] == 2 and xb.shape[0] == yb.shape[0]


def test_generic_dataset_is_collated_like_torch():
    class Squares:
        def __len__(self): return 5
        def __getitem__(self, i): return tensor([float(i), 1.0]), i * i

    class TSquares(torch.utils.data.Dataset):
        def __len__(self): return 5
        def __getitem__(self, i): return torch.tensor([float(i), 1.0]), i * i

    ours = list(DataLoader(Squares(), batch_size=2))
    theirs = list(torch.utils.data.DataLoader(TSquares(), batch_size=2))
    assert len(ours) == len(theirs) == 3
    for (xb, yb), (txb, tyb) in zip(ours, theirs):
        assert xb.tolist() == txb.tolist() and yb.tolist() == tyb.tolist()
        assert str(yb.dtype).split(".")[-1] == str(tyb.dtype).split(".")[-1]   # int64


def test_default_collate_errors_on_unknown_types():
    with pytest.raises(TypeError, match="don't know how to batch"):
        default_collate([object(), object()])


# ---------------------------------------------------------------- torch's data API: Dataset, Subset, random_split, generator
from course_lib.utils.data import Dataset, Subset, random_split


def test_data_api_names_and_signatures_are_torchs():
    import inspect
    for name in ["Dataset", "TensorDataset", "Subset", "DataLoader", "random_split", "default_collate"]:
        assert hasattr(torch.utils.data, name)
    ours, theirs = inspect.signature(DataLoader), inspect.signature(torch.utils.data.DataLoader)
    assert list(ours.parameters) == list(theirs.parameters)
    assert {k: p.default for k, p in ours.parameters.items() if k not in ("collate_fn",)} == \
           {k: p.default for k, p in theirs.parameters.items() if k not in ("collate_fn",)}
    assert list(inspect.signature(random_split).parameters) == list(inspect.signature(torch.utils.data.random_split).parameters)


def test_dataset_base_raises_like_torch():
    with pytest.raises(NotImplementedError) as ours: Dataset()[0]
    with pytest.raises(NotImplementedError) as theirs: torch.utils.data.Dataset()[0]
    assert str(ours.value) == str(theirs.value)


@pytest.mark.parametrize("lengths", [[7, 3], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33], [10], [0.7, 0.3]])
def test_random_split_sizes_partition_and_subset_like_torch(lengths):
    X, y = arange(10.0)[:, None], arange(10)
    parts = random_split(TensorDataset(X, y), lengths, generator=cl.Generator().manual_seed(0))
    tparts = torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(10.0)[:, None], torch.arange(10)), lengths,
                                           generator=torch.Generator().manual_seed(0))
    assert [len(p) for p in parts] == [len(p) for p in tparts]
    assert sorted(i for p in parts for i in p.indices) == list(range(10))
    for p in parts:                                               # a Subset maps its indices into the dataset
        for k in range(len(p)): assert p[k][1].item() == p.indices[k] and p[k][0].item() == float(p.indices[k])
    again = random_split(TensorDataset(X, y), lengths, generator=cl.Generator().manual_seed(0))
    assert [p.indices for p in parts] == [p.indices for p in again]


def test_random_split_bad_lengths_raise_like_torch():
    with pytest.raises(ValueError) as ours: random_split(TensorDataset(arange(10)), [3, 3])
    with pytest.raises(ValueError) as theirs: torch.utils.data.random_split(torch.utils.data.TensorDataset(torch.arange(10)), [3, 3])
    assert str(ours.value) == str(theirs.value)


def test_loader_over_a_subset_matches_torch_batches():
    X, y = make_moons(20, noise=0.1, seed=0)
    idx = [3, 17, 0, 5, 9, 12, 1]
    ours = [(xb.numpy(), yb.numpy()) for xb, yb in DataLoader(Subset(TensorDataset(X, y), idx), batch_size=3)]
    tds = torch.utils.data.TensorDataset(torch.from_numpy(X.numpy()), torch.from_numpy(y.numpy()))
    theirs = [(xb.numpy(), yb.numpy()) for xb, yb in torch.utils.data.DataLoader(torch.utils.data.Subset(tds, idx), batch_size=3)]
    assert len(ours) == len(theirs)
    for (a, b), (c, d) in zip(ours, theirs): assert np.array_equal(a, c) and np.array_equal(b, d)


def test_generator_makes_shuffling_reproducible_and_independent_of_the_global_seed():
    y = arange(40)
    run = lambda: [yb.tolist() for yb in DataLoader(y, batch_size=8, shuffle=True, generator=cl.Generator().manual_seed(3))]
    manual_seed(0); a = run()
    manual_seed(1); b = run()
    assert a == b and sorted(sum(a, [])) == list(range(40)) and sum(a, []) != list(range(40))
    g = cl.Generator().manual_seed(3)
    dl = DataLoader(y, batch_size=8, shuffle=True, generator=g)
    first, second = [b.tolist() for b in dl], [b.tolist() for b in dl]
    assert first != second                                        # each epoch draws a new permutation from g


def test_unsupported_loader_options_say_so():
    with pytest.raises(NotImplementedError, match="num_workers"): DataLoader(arange(4), num_workers=2)
