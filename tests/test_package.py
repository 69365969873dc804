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
X, y = cl.data.make_moons(64, noise=0.1, seed=0)
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
