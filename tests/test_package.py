"""course_lib's runtime needs NumPy only: torch is for the tests and the notebooks' comparisons."""
import configparser, pathlib, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

def test_runtime_requirements_are_numpy_only():
    cfg = configparser.ConfigParser(delimiters=["="])
    cfg.read(ROOT / "settings.ini")
    reqs = cfg["DEFAULT"]["requirements"].split()
    assert [r.split(">")[0].split("=")[0] for r in reqs] == ["numpy"]

def test_training_runs_without_torch():
    # A student's machine without torch: block the import, then train a few steps.
    code = """
import sys
sys.modules["torch"] = None          # `import torch` now raises ImportError
import course_lib as cl
import course_lib.nn.functional as F
cl.manual_seed(0)
X, y = cl.utils.data.make_moons(64, noise=0.1, seed=0)
model = cl.nn.Sequential(cl.nn.Linear(2, 16), cl.nn.ReLU(), cl.nn.Linear(16, 2))
opt = cl.optim.SGD(model.parameters(), lr=0.5)
losses = []
for _ in range(20):
    loss = F.cross_entropy(model(X), y)
    opt.zero_grad(); loss.backward(); opt.step()
    losses.append(loss.item())
assert losses[-1] < losses[0], losses
print("ok", round(losses[0], 3), round(losses[-1], 3))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ok")

# Chapter 0's gradient example (the seed notebook), written once for `lib`: it must run unchanged on course_lib.
CHAPTER_0 = """
a_tensor = lib.tensor([1.0, 2.0, 3.0])
b_tensor = lib.tensor([4.0, 5.0, 6.0])
results = [a_tensor + 3, a_tensor @ b_tensor, a_tensor.requires_grad]
a_tensor.requires_grad = True
b_tensor.requires_grad = True
value = lib.sum(lib.sin(a_tensor) + lib.cos(b_tensor))
value.backward()
results += [a_tensor.grad.clone(), lib.cos(a_tensor), b_tensor.grad.clone(), -lib.sin(b_tensor)]
a_sum = lib.sum(a_tensor)
a_sum.backward()
results += [a_tensor.grad.clone(), lib.cos(a_tensor) + 1, b_tensor.grad.clone()]
a_tensor.grad.zero_()
b_tensor.grad = None
results += [a_tensor.grad.clone(), b_tensor.grad]
with lib.no_grad():
    doubled = a_tensor * 2
results += [doubled, doubled.requires_grad, a_tensor.detach().requires_grad]
"""

def _run_chapter_0(lib):
    env = {"lib": lib}
    exec(CHAPTER_0, env)
    return env["results"]

def test_chapter_0_runs_on_course_lib_with_torch_replaced():
    import numpy as np, torch, course_lib
    ours, theirs = _run_chapter_0(course_lib), _run_chapter_0(torch)
    assert len(ours) == len(theirs)
    for i, (o, t) in enumerate(zip(ours, theirs)):
        if isinstance(t, torch.Tensor):
            assert isinstance(o, course_lib.Tensor), i
            assert o.shape == tuple(t.shape) and str(o.dtype).split(".")[1] == str(t.dtype).split(".")[1], i
            np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-6, err_msg=f"result {i}")
        else:
            assert o == t, (i, o, t)
