"""bench/bench.py times three implementations of one training step; here we check they compute the
same thing (loss, updated weights, gradients) for one tiny step. Correctness only: nothing is timed."""
import importlib.util, pathlib
import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("bench", ROOT / "bench/bench.py")
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)

SIZES = (12, 8, 8, 5)     # a tiny MLP: the same code paths as 784-256-256-10
TOL = dict(rtol=1e-5, atol=1e-6)

def one_step(cls, batch=6):
    params, (x, y) = bench.init_params(SIZES), bench.make_batch(batch, SIZES)
    model = cls(params)
    loss = model.step(*model.prepare(x, y))
    return loss.item(), model.weights()

def test_numpy_floor_is_float32_and_learns():
    params = bench.init_params(SIZES)
    loss, weights = one_step(bench.NumpyMLP)
    assert np.isfinite(loss)
    for (W, b), (W0, b0) in zip(weights, params):
        assert W.dtype == b.dtype == np.float32
        assert not np.allclose(W, W0), "the SGD step should change the weights"

@pytest.mark.parametrize("name", ["course_lib", "torch"])
def test_mlp_step_matches_the_numpy_floor(name):
    ref_loss, ref_weights = one_step(bench.NumpyMLP)
    loss, weights = one_step(bench.MLP_CLASSES[name])
    assert np.isclose(loss, ref_loss, **TOL), (loss, ref_loss)
    for (W, b), (rW, rb) in zip(weights, ref_weights):
        assert W.dtype == b.dtype == np.float32
        np.testing.assert_allclose(W, rW, **TOL)
        np.testing.assert_allclose(b, rb, **TOL)

@pytest.mark.parametrize("name", ["course_lib", "torch"])
def test_stress_chain_matches_the_numpy_floor(name):
    leaves = bench.stress_leaves()
    ref, other = bench.NumpyStress(leaves), bench.STRESS_CLASSES[name](leaves)
    out_ref, out = ref.step().item(), other.step().item()
    assert np.isclose(out, out_ref, rtol=1e-5), (out, out_ref)
    for g, r in zip(other.grads, ref.grads):    # grads of x, a, b, c; a, b, c are used 50 times each
        np.testing.assert_allclose(g, r, rtol=1e-4, atol=1e-5)

def test_a_whole_run_with_a_tiny_plan(capsys):
    "Every stage of `make bench` (timing, memory, leak check, table) on a plan that takes a second."
    plan = dict(rounds=2, block_s=0.002, settle_s=0.0, batches=(32, 256), sizes=SIZES, stress_ops=8,
                gpu_batch=64, leak_steps=(2, 5))
    result = bench.run(plan, threads=1, name="tiny", log=lambda msg: None)
    assert result["impls"] == ["course_lib", "numpy", "torch"]
    for key in ("mlp_b32", "mlp_b256", "stress"):
        assert set(result["workloads"][key]["ratios"]) == {"course_lib/numpy", "course_lib/torch"}
    assert result["peak_memory"]["mlp_b256"]["numpy_bytes"] > 0
    assert "growth_mb" in result["leak"] or "skipped" in result["leak"]
    text = bench.table(result)
    assert "MLP b=256" in text and "stress 8 ops" in text and "targets" in text


# ---------------------------------------------------------------- the CNN workload (the digits LeNet)
def cnn_step(cls, batch=6):
    params, (x, y) = bench.init_cnn_params(), bench.make_images(batch)
    model = cls(params)
    loss = model.step(*model.prepare(x, y))
    return loss.item(), model.weights()

def test_numpy_cnn_floor_is_float32_and_learns():
    params = bench.init_cnn_params()
    assert [W.shape for W, _ in params] == [(16, 1, 3, 3), (32, 16, 3, 3), (64, 128), (10, 64)]
    loss, weights = cnn_step(bench.NumpyCNN)
    assert np.isfinite(loss)
    for (W, b), (W0, b0) in zip(weights, params):
        assert W.dtype == b.dtype == np.float32
        assert not np.allclose(W, W0) and not np.allclose(b, b0), "the SGD step should change every layer"

@pytest.mark.parametrize("name", ["course_lib", "torch"])
def test_cnn_step_matches_the_numpy_floor(name):
    ref_loss, ref_weights = cnn_step(bench.NumpyCNN, batch=16)
    loss, weights = cnn_step(bench.CNN_CLASSES[name], batch=16)
    assert np.isclose(loss, ref_loss, **TOL), (loss, ref_loss)
    for (W, b), (rW, rb) in zip(weights, ref_weights):
        assert W.dtype == b.dtype == np.float32
        np.testing.assert_allclose(W, rW, **TOL)
        np.testing.assert_allclose(b, rb, **TOL)

def test_numpy_im2col_col2im_are_adjoint_and_pooling_picks_the_first_maximum():
    torch = pytest.importorskip("torch", reason="torch is the reference for the floor's helpers")
    rng = np.random.default_rng(0)
    x, c = rng.standard_normal((2, 3, 5, 4)), rng.standard_normal((2 * 5 * 4, 3 * 9))
    assert np.isclose((bench._im2col3x3(x) * c).sum(), (x * bench._col2im3x3(c, x.shape)).sum())   # <Ax, c> = <x, A'c>
    w = rng.standard_normal((6, 3, 3, 3))
    ours = (bench._im2col3x3(x) @ w.reshape(6, -1).T).reshape(2, 5, 4, 6).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(ours, torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1).numpy(), rtol=1e-10)
    ties = np.array([[[[1.0, 3.0, 0.0, 0.0], [3.0, 2.0, 0.0, 0.0]]]])         # a tie at 3 and an all-zero window
    out, arg = bench._pool2x2(ties)
    t = torch.tensor(ties, requires_grad=True)
    torch.nn.functional.max_pool2d(t, 2).backward(torch.ones(1, 1, 1, 2))
    assert out.tolist() == [[[[3.0, 0.0]]]]
    np.testing.assert_array_equal(bench._unpool2x2(np.ones((1, 1, 1, 2)), arg), t.grad.numpy())

def test_a_run_includes_the_cnn_workload_and_its_target():
    plan = dict(rounds=2, block_s=0.002, settle_s=0.0, batches=(32,), sizes=SIZES, stress_ops=8,
                gpu_batch=64, leak_steps=(2, 5), cnn_batch=8)
    result = bench.run(plan, threads=1, name="tiny", log=lambda msg: None)
    w = result["workloads"]["cnn_b8"]
    assert w["kind"] == "cnn" and w["threads"] == 1 and set(w["results"]) == {"course_lib", "numpy", "torch"}
    assert set(w["ratios"]) == {"course_lib/numpy", "course_lib/torch"}
    assert "CNN b=8" in bench.table(result)
    assert any(t["target"] == f"CNN b={bench.CNN_BATCH} course_lib/numpy" for t in result["targets"])


# ---------------------------------------------------------------- the GPT step (bench/gpt_step.py), against torch only
def test_a_run_includes_the_gpt_step_against_torch_and_its_target():
    plan = dict(rounds=2, block_s=0.002, settle_s=0.0, batches=(32,), sizes=SIZES, stress_ops=8,
                gpu_batch=64, leak_steps=(2, 5), gpt=True)
    result = bench.run(plan, threads=1, name="tiny", log=lambda msg: None)
    w = result["vs_torch"][bench.GPT_KEY]
    assert bench.GPT_KEY not in result["workloads"]     # "workloads" are those with a NumPy floor (chapter 20 reads them)
    assert w["kind"] == "gpt" and w["threads"] == 1 and (w["batch"], w["context"]) == (32, 16)
    assert set(w["results"]) == {"course_lib", "torch"} and set(w["ratios"]) == {"course_lib/torch"}
    assert all(s["median_s"] > 0 and s["blocks"] == 2 for s in w["results"].values())
    target, = [t for t in result["targets"] if t["target"] == "GPT b=32 t=16 course_lib/torch"]
    assert target["limit"] == w["target"] == bench.gpt_module().TARGET == 1.5 and target["value"] == w["ratios"]["course_lib/torch"]
    assert "GPT b=32 t=16" in bench.table(result)

def test_make_bench_plans_time_the_gpt_step_and_a_plan_without_it_skips_it():
    assert bench.PLANS["full"]["gpt"] and bench.PLANS["quick"]["gpt"]
    plan = dict(rounds=1, block_s=0.001, settle_s=0.0, batches=(32,), sizes=SIZES, stress_ops=8, gpu_batch=64, leak_steps=(1, 2))
    result = bench.run(plan, threads=1, name="tiny", log=lambda msg: None)
    assert result["vs_torch"] == {}
    target, = [t for t in result["targets"] if t["target"].startswith("GPT")]
    assert target["met"] is None and "not measured" in bench.table(result)

def test_gpt_step_is_the_same_model_in_both_libraries():
    "gpt_step.setups checks the first losses agree; the two models also have the same parameters, shapes and count."
    import torch
    import course_lib as cl
    gpt = bench.gpt_module()
    ours, theirs = gpt.make_gpt(cl), gpt.make_gpt(torch)
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters()) == 8979
    steps = dict(gpt.setups(threads=1))
    assert abs(steps["course_lib"]() - steps["torch"]()) < 1e-4      # the second step: AdamW's updates agree too

def test_the_baseline_holds_the_gpt_step_and_its_target():
    import json
    base = json.loads((ROOT / "bench/baseline.json").read_text())
    w = base["vs_torch"][bench.GPT_KEY]
    assert w["target"] == bench.TARGETS[bench.GPT_KEY] and set(w["results"]) == {"course_lib", "torch"}
    assert np.isclose(w["ratios"]["course_lib/torch"], w["results"]["course_lib"]["median_s"] / w["results"]["torch"]["median_s"])
    assert all(set(wl["results"]) >= {"course_lib", "numpy", "torch"} for wl in base["workloads"].values())   # what chapter 20 reads
