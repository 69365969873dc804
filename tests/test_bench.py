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
