"""Packaging: course_lib's runtime needs NumPy only (torch is for the tests and the notebooks' comparisons),
and the sdist and the wheel built from this checkout install into a clean venv and work there.
"""
import configparser, pathlib, subprocess, sys

import pytest

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


# ---------------------------------------------------------------- the sdist and the wheel, installed clean

def _ini():
    cfg = configparser.ConfigParser(delimiters=["="], interpolation=None)
    cfg.read(ROOT / "settings.ini", encoding="utf-8")
    return cfg["DEFAULT"]


def _run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    """The sdist and the wheel, built from this checkout (`python -m build`, as a release would), and a
    wheelhouse with what installing them needs (numpy, setuptools to build the sdist): every install
    below is then `--no-index`, so it tests our packaging and nothing on the network."""
    pytest.importorskip("build", reason="the `build` package (a dev extra) builds the sdist and the wheel")
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: build with this environment's setuptools (pyproject's build-system.requires is checked)
    _run([sys.executable, "-m", "build", "--no-isolation", "--sdist", "--wheel", "--outdir", out, ROOT], cwd=ROOT)
    house = tmp_path_factory.mktemp("wheelhouse")
    cfg = _ini()
    r = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-d", house,
                        *cfg["requirements"].split(), "setuptools>=64"], capture_output=True, text=True)
    if r.returncode:
        pytest.skip(f"pip could not fetch numpy and setuptools from its configured indexes to install the "
                    f"built packages into a clean venv:\n{r.stderr[-800:]}")
    sdist, = out.glob("*.tar.gz")
    wheel, = out.glob("*.whl")
    return {"sdist": sdist, "wheel": wheel, "house": house}


def test_sdist_contents(dists):
    "The sdist carries settings.ini (setup.py reads everything from it) and the library, not the course's sources."
    import tarfile
    with tarfile.open(dists["sdist"]) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    for need in ("settings.ini", "setup.py", "pyproject.toml", "README.md", "LICENSE", "course_lib/__init__.py"):
        assert need in names, f"{need} is missing from the sdist (MANIFEST.in)"
    leaked = sorted(n for n in names if n.split("/")[0] in ("nbs", "tests", "tools", "bench"))
    assert not leaked, f"the sdist should carry the library only: {leaked[:5]}"


def test_wheel_metadata(dists):
    "Classifiers and Requires-Python come from settings.ini (status, min_python); the wheel ships py.typed."
    import email, zipfile
    cfg = _ini()
    with zipfile.ZipFile(dists["wheel"]) as zf:
        names = zf.namelist()
        meta = email.message_from_string(zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode())
    assert f"{cfg['lib_path']}/py.typed" in names, "the wheel must ship the PEP 561 marker py.typed"
    assert f"{cfg['lib_path']}/_tensor.pyi" in names, "the wheel must ship the Tensor stub (tools/make_stubs.py) for editors"
    assert not [n for n in names if n.startswith(("nbs/", "tests/", "tools/"))]
    classifiers = meta.get_all("Classifier")
    statuses = [c for c in classifiers if c.startswith("Development Status :: ")]
    assert statuses and statuses[0].split(" :: ")[1].startswith(cfg["status"] + " - "), \
        f"settings.ini has status = {cfg['status']}, the wheel says {statuses}"
    assert f"Programming Language :: Python :: {cfg['min_python']}" in classifiers, classifiers
    assert meta["Requires-Python"] == ">=" + cfg["min_python"]
    assert meta["Version"] == cfg["version"]
    extras = set(meta.get_all("Provides-Extra"))
    assert {"dev", "cuda", "notebooks"} <= extras, extras


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_installs_into_a_clean_venv(kind, dists, tmp_path):
    "pip installs the built sdist / wheel into a fresh venv (no network), and the course's first steps run on it."
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv])
    py = venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")
    _run([py, "-m", "pip", "install", "-q", "--no-index", "--find-links", dists["house"], dists[kind]],
         cwd=tmp_path)
    code = ("import pathlib, course_lib as cl\n"
            "assert 'site-packages' in cl.__file__, cl.__file__\n"
            "x = cl.tensor([1.0, 2.0, 3.0], requires_grad=True)\n"
            "(x * x).sum().backward()\n"
            "assert x.grad.tolist() == [2.0, 4.0, 6.0], x.grad\n"
            "assert (pathlib.Path(cl.__file__).parent / 'py.typed').exists()\n"
            "assert (pathlib.Path(cl.__file__).parent / '_tensor.pyi').exists()\n"
            "print(cl.__version__)")
    r = _run([py, "-c", code], cwd=tmp_path)  # cwd outside the checkout: the installed copy is imported
    assert r.stdout.strip() == _ini()["version"]
