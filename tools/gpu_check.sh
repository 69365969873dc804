#!/usr/bin/env bash
# The one prepared GPU check for issue 7 (devices). Run it from the repository root on a machine with an NVIDIA
# GPU, torch built with CUDA, and CuPy (cupy-cuda12x):
#
#     bash tools/gpu_check.sh      # with the python3 that has torch (CUDA build) and CuPy; PY=... to choose another
#
# It prints: the environment; the CUDA test summary (`pytest tests -k cuda`, passed/failed/skipped); ONE line with
# the CPU-vs-GPU time of a 4096x4096 float32 matmul forward+backward; and, when nbval is installed, chapter 10 run
# under nbval on the GPU. Budget: about 8 minutes on a fresh machine (CuPy compiles each new kernel once, which
# dominates the first test run). Exit status: the pytest one.
set -uo pipefail
[ -d course_lib ] && [ -d tests ] || { echo "tools/gpu_check.sh: run me from the repository root"; exit 2; }
export PYTHONPATH=.${PYTHONPATH:+:$PYTHONPATH}
PY=${PY:-python3}

echo "== environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "nvidia-smi: not found"
$PY - <<'EOF'
import sys
print("python", sys.version.split()[0])
try:
    import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())
except Exception as e: print("torch: MISSING", e)
try:
    import cupy; print("cupy", cupy.__version__, "devices", cupy.cuda.runtime.getDeviceCount())
except Exception as e: print("cupy: MISSING or no GPU:", type(e).__name__, e)
import course_lib.cuda as c; print("course_lib.cuda.is_available()", c.is_available(), "device_count", c.device_count())
EOF

echo "== CUDA tests: pytest tests -k cuda"
timeout 420 $PY -m pytest tests -k cuda -q -p no:cacheprovider -ra 2>&1 | tail -40
rc=${PIPESTATUS[0]}
echo "(pytest exit status $rc)"

echo "== timing: 4096x4096 float32 matmul, forward + backward (median of 3, after 1 warm-up; synchronized)"
timeout 150 $PY - <<'EOF'
import course_lib as cl, course_lib.cuda as cuda
n = 4096
def fwd_bwd(dev):
    cl.manual_seed(0)
    a = cl.randn(n, n, device=dev, requires_grad=True)
    b = cl.randn(n, n, device=dev, requires_grad=True)
    def step():
        a.grad = b.grad = None
        (a @ b).sum().backward()          # 3 matmuls: a @ b, g @ b.T, a.T @ g
    return cuda.timeit(step, device=dev, repeat=3, warmup=1)
cpu = fwd_bwd("cpu")
if not cuda.is_available():
    print(f"matmul 4096x4096 fwd+bwd float32: course_lib cpu {1e3 * cpu:.1f} ms; cuda: NOT AVAILABLE")
else:
    gpu = fwd_bwd("cuda")
    ref = ""
    try:
        import torch
        if torch.cuda.is_available():
            torch.backends.cuda.matmul.allow_tf32 = False        # true float32, like CuPy's default
            ta = torch.randn(n, n, device="cuda", requires_grad=True); tb = torch.randn(n, n, device="cuda", requires_grad=True)
            def tstep():
                ta.grad = tb.grad = None
                (ta @ tb).sum().backward()
            tstep(); torch.cuda.synchronize()
            import time, statistics
            ts = []
            for _ in range(3):
                torch.cuda.synchronize(); t0 = time.perf_counter(); tstep(); torch.cuda.synchronize(); ts.append(time.perf_counter() - t0)
            ref = f"; torch cuda {1e3 * statistics.median(ts):.2f} ms"
    except Exception as e: ref = f"; torch reference failed: {e}"
    print(f"matmul 4096x4096 fwd+bwd float32: course_lib cpu {1e3 * cpu:.1f} ms, course_lib cuda {1e3 * gpu:.2f} ms "
          f"({cpu / gpu:.0f}x faster) on {cuda.get_device_name()}{ref}")
EOF

if $PY -c "import nbval" 2>/dev/null; then
    echo "== chapter 10 under nbval on the GPU"
    timeout 240 $PY -m pytest --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg nbs/10_devices.ipynb -q -p no:cacheprovider 2>&1 | tail -15
else
    echo "== nbval not installed: chapter 10 not run under nbval here"
fi
exit $rc
