"""Re-execute notebooks top to bottom and store their outputs (what nbval compares against).

    python tools/run_nbs.py [NOTEBOOK ...]   # default: every notebook under nbs/

Each notebook runs in a fresh kernel from this environment, in its own folder (as nbval
runs it), then is cleaned by tools/nbclean.py so counts are sequential and metadata stable.
"""
import json, pathlib, sys, time
import nbformat
from nbclient import NotebookClient
sys.path.insert(0, str(pathlib.Path(__file__).parent))
from nbclean import clean, dumps

def run(path):
    nb = nbformat.read(path, as_version=4)
    t = time.time()
    NotebookClient(nb, timeout=900, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    path.write_text(dumps(clean(json.loads(nbformat.writes(nb)), path.name)))
    print(f"ran {path} in {time.time()-t:.1f}s")

if __name__ == "__main__":
    paths = [pathlib.Path(a) for a in sys.argv[1:]] or sorted(
        p for p in pathlib.Path("nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    for p in paths: run(p)
