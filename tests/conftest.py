"""pytest configuration shared by every suite in tests/.

* ``DEVICES`` / the ``device`` fixture: "cpu" always; "cuda" only when CuPy is installed, a GPU is visible and
  torch was built with CUDA (the reference runs on CUDA too). Otherwise the cuda cases are *skipped* with the
  missing piece as the reason (``pytest -ra`` prints it). Test ids contain "cpu" / "cuda", so
  ``pytest -k cuda`` selects exactly the GPU cases.
* torch on CUDA is compared with TF32 disabled (matmuls in true float32, like CuPy's defaults).
* hypothesis: a small, derandomized profile so CI is fast and reproducible.
"""
import importlib.util
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
if importlib.util.find_spec("course_lib") is None:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(ROOT))

try:
    import torch  # noqa: E402
except ModuleNotFoundError as e:  # a Python without the dev extras: say what to install, not a bare traceback
    _MISSING = (f"the tests need the dev extras ({e.name} is not installed in {sys.executable}): run `make test`, "
                "which creates .venv with them, or install them into this Python with `python tools/install.py` "
                "(torch's CPU build, then pip install -e \".[dev]\")")

    def pytest_configure(config):  # before collection, where every test module's `import torch` would fail
        pytest.exit(_MISSING, returncode=4)

    class _NoTorch:  # lets the rest of this file load; pytest stops in pytest_configure
        def __getattr__(self, name): return self
        def __setattr__(self, name, value): pass
        def __call__(self, *a, **k): return self
    torch = _NoTorch()

# The reference must not use TF32 on Ampere+ GPUs, or float32 matmuls differ from CuPy's at ~1e-3.
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False


def _cuda_missing():
    """None when the CUDA cases can run, else a sentence saying which piece is missing."""
    try:
        import cupy  # noqa: F401
    except Exception as e:  # ImportError, or a CuPy that cannot load its CUDA libraries
        return (f"CuPy is not installed or cannot be imported ({type(e).__name__}); pip install cupy-cuda12x "
                "(CUDA 12), or make test GPU=1")
    try:
        n = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:
        return f"CuPy is installed but no CUDA GPU is visible ({type(e).__name__}: {e})"
    if n < 1:
        return "CuPy is installed but no CUDA GPU is visible"
    if not torch.cuda.is_available():
        return "a GPU and CuPy are present but torch has no CUDA, so there is no reference to compare with"
    return None


CUDA_MISSING = _cuda_missing()
HAS_CUDA = CUDA_MISSING is None

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not HAS_CUDA, reason=f"cuda: {CUDA_MISSING}"), id="cuda"),
]


@pytest.fixture(params=DEVICES, scope="session")
def device(request):
    """The device every cross-check runs on ("cpu", and "cuda" when available)."""
    return request.param


# ---------------------------------------------------------------------------------------------------------
# hypothesis: modest, reproducible
# ---------------------------------------------------------------------------------------------------------
try:
    import os

    from hypothesis import HealthCheck, Phase, settings

    # Shrinking a failure to a minimal example can take minutes when many cases fail at once (a broken
    # library); the failing example is reproducible anyway (derandomized). HYPOTHESIS_SHRINK=1 turns it on.
    _phases = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
    if os.environ.get("HYPOTHESIS_SHRINK"):
        _phases.append(Phase.shrink)

    settings.register_profile(
        "course_lib",
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        print_blob=True,
        phases=_phases,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    settings.load_profile("course_lib")
except ImportError:  # pragma: no cover - hypothesis is a dev requirement
    pass
