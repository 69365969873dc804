"""cl.save / cl.load (course_lib.serialization, chapter 14) like torch.save / torch.load with weights_only=True:
state dicts round-trip exactly (dtypes, shapes, values, requires_grad, nesting), and a file that would run code is refused."""
import io, os, pickle
from collections import OrderedDict
import numpy as np
import pytest
import torch

import course_lib as cl


def test_save_and_load_are_torchs_names_with_torchs_parameters():
    import inspect
    assert list(inspect.signature(cl.save).parameters)[:4] == list(inspect.signature(torch.save).parameters)[:4]
    assert list(inspect.signature(cl.load).parameters)[:4] == list(inspect.signature(torch.load).parameters)[:4]
    assert "weights_only" in inspect.signature(cl.load).parameters


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "float16", "uint8"])
def test_tensors_round_trip_exactly(dtype, tmp_path):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 0, 2)) if dtype == "float64" else rng.standard_normal((4, 5)) * 10).astype(getattr(np, dtype) if dtype != "bool" else bool)
    t = cl.tensor(a)
    cl.save({"t": t, "scalar": cl.tensor(a.ravel()[:1].reshape(()) if a.size else a.sum())}, tmp_path / "x.pt")
    back = cl.load(tmp_path / "x.pt")
    assert back["t"].dtype is t.dtype and back["t"].shape == t.shape and np.array_equal(back["t"].numpy(), a)
    assert back["scalar"].shape == ()


def test_state_dict_round_trip_restores_a_model(tmp_path):
    cl.manual_seed(0)
    model = cl.nn.Sequential(cl.nn.Conv2d(1, 4, 3), cl.nn.ReLU(), cl.nn.Flatten(), cl.nn.Linear(4 * 6 * 6, 3))
    cl.save(model.state_dict(), str(tmp_path / "m.pt"))
    sd = cl.load(str(tmp_path / "m.pt"))
    assert isinstance(sd, OrderedDict) and list(sd) == list(model.state_dict())
    cl.manual_seed(1)
    other = cl.nn.Sequential(cl.nn.Conv2d(1, 4, 3), cl.nn.ReLU(), cl.nn.Flatten(), cl.nn.Linear(4 * 6 * 6, 3))
    other.load_state_dict(sd)
    x = cl.randn(2, 1, 8, 8)
    assert np.array_equal(model(x).detach().numpy(), other(x).detach().numpy())


def test_nested_containers_numbers_strings_and_requires_grad(tmp_path):
    obj = {"epoch": 3, "lr": 1e-3, "name": "lenet", "flags": (True, None), "list": [cl.tensor([1.0, 2.0], requires_grad=True)]}
    buf = io.BytesIO(); cl.save(obj, buf); buf.seek(0)
    back = cl.load(buf)
    assert {k: v for k, v in back.items() if k != "list"} == {k: v for k, v in obj.items() if k != "list"}
    assert back["list"][0].requires_grad and back["list"][0].tolist() == [1.0, 2.0]


class _RunsCode:
    def __reduce__(self): return (os.system, ("echo this must never run",))


@pytest.mark.parametrize("payload", [_RunsCode(), np.float64(1.0), torch.tensor([1.0])], ids=["os.system", "numpy object", "torch object"])
def test_a_file_that_names_other_globals_is_refused_like_torch(payload, tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as f: pickle.dump({"weight": payload}, f, protocol=2)     # torch's protocol, so torch reads as far as the global
    with pytest.raises(pickle.UnpicklingError) as ours: cl.load(path)
    assert "Weights only load failed" in str(ours.value) and "Unsupported global: GLOBAL" in str(ours.value)
    if isinstance(payload, _RunsCode):
        with pytest.raises(pickle.UnpicklingError) as theirs: torch.load(path)           # torch refuses the same file
        named = f"GLOBAL {os.system.__module__}.system"                  # both name the function they refused to call
        assert named in str(ours.value) and named in str(theirs.value)


def test_weights_only_false_is_plain_pickle_as_in_torch(tmp_path):
    path = tmp_path / "trusted.pt"
    with open(path, "wb") as f: pickle.dump({"x": np.arange(3)}, f)
    assert cl.load(path, weights_only=False)["x"].tolist() == [0, 1, 2]
