"""Install the course into the running Python (the venv `make` creates): torch first, then the project.

    .venv/bin/python tools/install.py          # CPU build of torch (what `make venv` runs)
    .venv/bin/python tools/install.py --gpu    # torch's CUDA build and CuPy (`make venv GPU=1`)

On Linux, `pip install torch` from PyPI is the CUDA build: about 2.7 GB with its nvidia-* wheels.
The course needs no GPU, so by default torch comes from torch's CPU wheel index (about 190 MB),
and only torch does (`--index-url` for that one install); everything else comes from the indexes
pip is configured with. Where the CPU index cannot be reached (an offline mirror, a proxy that
allows only PyPI), this says so and installs torch from pip's configured indexes instead.
Then `pip install -e ".[dev]"` (".[dev,cuda]" with --gpu) finds torch already there.
"""
import argparse, configparser, re, subprocess, sys, urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
# Rough sizes, for the line printed before each download (Linux x86_64, torch 2.13).
SIZES = {
    "cpu": "torch's CPU build: about 190 MB to download, 750 MB installed",
    "cuda": "torch's CUDA build from PyPI with its nvidia-* wheels: about 2.7 GB to download, 5 GB installed",
    "rest": "the rest of the dev extras (JupyterLab, nbdev, matplotlib, scikit-learn, pandoc, ...): "
            "about 250 MB to download, 1 GB installed",
}


def torch_requirement():
    "The torch pin of settings.ini's dev_requirements (`torch==2.13.0`)."
    ini = configparser.ConfigParser(delimiters=["="], interpolation=None)
    ini.read(ROOT / "settings.ini", encoding="utf-8")
    reqs = [r for r in ini["DEFAULT"]["dev_requirements"].split() if re.match(r"torch\b(?![-_])", r)]
    assert len(reqs) == 1, f"settings.ini's dev_requirements should pin torch once, found {reqs}"
    return reqs[0]


def reachable(url, timeout=5):
    "Whether `url` answers (pip would reach it too: urllib honours the same proxy variables)."
    try:
        with urllib.request.urlopen(url, timeout=timeout): return True
    except Exception:
        return False


def installed_torch():
    "The installed torch's version string (`2.13.0+cpu`), or None."
    r = subprocess.run([sys.executable, "-c", "import importlib.metadata as m; print(m.version('torch'))"],
                       capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def pip(*args):
    cmd = [sys.executable, "-m", "pip", *args]
    print("+ " + " ".join(("python" if a == sys.executable else a) for a in cmd), flush=True)
    subprocess.run(cmd, check=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gpu", action="store_true", help="torch's CUDA build and CuPy instead of the CPU build")
    args = ap.parse_args(argv)
    torch_req = torch_requirement()
    pip("install", "-q", "--upgrade", "pip")
    have = installed_torch()
    if args.gpu:
        if have and "+cpu" in have:  # pip would keep the CPU build: it satisfies torch==X too
            print(f"replacing torch {have} (the CPU build) with the CUDA build", flush=True)
            pip("uninstall", "-y", "-q", "torch")
        print(f"installing {torch_req}, {SIZES['cuda']}", flush=True)
        pip("install", "-q", torch_req)
    elif reachable(CPU_INDEX + "/torch/"):
        print(f"installing {torch_req} from {CPU_INDEX}: {SIZES['cpu']} (make ... GPU=1 for the CUDA build)",
              flush=True)
        pip("install", "-q", torch_req, "--index-url", CPU_INDEX)
    else:
        print(f"{CPU_INDEX} is not reachable: installing {torch_req} from pip's configured indexes "
              f"(where that is PyPI on Linux, this is {SIZES['cuda']})", flush=True)
        pip("install", "-q", torch_req)
    extras = "dev,cuda" if args.gpu else "dev"
    print(f"installing course_lib (editable) with its [{extras}] extras: {SIZES['rest']}"
          + (", and CuPy for CUDA 12 (about 100 MB)" if args.gpu else ""), flush=True)
    pip("install", "-q", "-e", f"{ROOT}[{extras}]")
    print(f"installed: torch {installed_torch()}, course_lib (editable) [{extras}]", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
