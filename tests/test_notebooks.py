"""Notebook hygiene: what strict nbval needs from the stored notebooks, checked without running them."""
import json, pathlib, re, sys
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from nbclean import KERNELSPEC, clean, dumps, kernel_language_info  # noqa: E402
from markers_to_tags import markers_left  # noqa: E402

NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]
ids = lambda ps: [p.name for p in ps]

# The tags nbval 0.11 reads (nbval.plugin.metadata_tags).
NBVAL_TAGS = {"nbval-ignore-output", "nbval-check-output", "nbval-raises-exception", "nbval-skip"}

def code_cells(path): return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]
def src(cell): return "".join(cell["source"])

def test_there_are_notebooks():
    assert (ROOT / "nbs/index.ipynb") in NOTEBOOKS and (ROOT / "nbs/00_pytorch_basics.ipynb") in NOTEBOOKS

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_outputs_come_from_one_top_to_bottom_run(path):
    counts = []
    for i, cell in enumerate(code_cells(path)):
        n = cell.get("execution_count")
        assert not (cell["outputs"] and n is None), f"code cell {i} has outputs but no execution_count"
        counts.append(n)
    assert counts == list(range(1, len(counts) + 1)), f"execution counts {counts} are not 1..N in order: re-run with `make nbs`"

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_clean(path):
    text = path.read_text()
    assert dumps(clean(json.loads(text), path.name)) == text, "volatile metadata: run `make clean`"

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_opening_in_jupyterlab_changes_nothing(path):
    """What JupyterLab saves after opening the notebook (kernelspec and the kernel's language_info put in the
    metadata, written by jupyter_server through nbformat) is the stored file, byte for byte: so neither
    autosave nor a student's pull dirties it. Only language_info's Python `version` may differ by machine."""
    import nbformat
    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    stored = dict(nb.metadata.get("language_info", {}))
    assert isinstance(stored.get("version"), str), "language_info has no Python version: run `make clean`"
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {**kernel_language_info(), "version": stored["version"]}
    saved = nbformat.writes(nb)
    saved += "" if saved.endswith("\n") else "\n"  # nbformat.write (what jupyter_server calls) ends the file so
    assert saved == text, ("JupyterLab would rewrite this notebook on opening (metadata differs from what the "
                           "kernel reports): run `make clean`")

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_stored_warnings_or_errors(path):
    for i, cell in enumerate(code_cells(path)):
        tags = set(cell.get("metadata", {}).get("tags", []))
        expects_error = bool({"nbval-raises-exception", "raises-exception"} & tags)
        for out in cell["outputs"]:
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), \
                f"cell {i} wrote to stderr (a warning?): {''.join(out['text'])[:200]}"
            assert out["output_type"] != "error" or expects_error, f"cell {i} raised {out.get('ename')}"

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_nbval_marker_in_code(path):
    "nbval's markers are cell tags (which nbval reads too), not `# NBVAL_*` comments every reader sees."
    left = markers_left(json.loads(path.read_text()))
    assert not left, (f"nbval markers in the code a reader sees (cell, line): {left}; move them into tags "
                      f"with `python tools/markers_to_tags.py {path.relative_to(ROOT)}` (or `make clean`)")

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_nbval_tag_gives_a_reason(path):
    "A cell whose output nbval ignores or skips says why, in metadata.nbval.reason."
    bad = []
    for i, cell in enumerate(code_cells(path)):
        meta = cell.get("metadata", {})
        tags = meta.get("tags", [])
        assert isinstance(tags, list), f"code cell {i}: tags must be a list (nbval ignores anything else)"
        unknown = [t for t in tags if t.startswith("nbval") and t not in NBVAL_TAGS]
        assert not unknown, f"code cell {i}: {unknown} are not tags nbval reads ({sorted(NBVAL_TAGS)})"
        if {"nbval-ignore-output", "nbval-skip"} & set(tags):
            reason = meta.get("nbval", {}).get("reason", "") if isinstance(meta.get("nbval"), dict) else ""
            if len(reason.strip()) < 10: bad.append((i, tags, reason))
    assert not bad, ("code cells whose output nbval ignores or skips without a reason in metadata.nbval.reason "
                     f"(code cell, tags, reason): {bad}")

@pytest.mark.parametrize("path", CHAPTERS, ids=ids(CHAPTERS))
def test_colab_install_cell_is_silent_elsewhere(path):
    cells = code_cells(path)
    first = src(cells[0])
    assert first.startswith("#| hide") and 'if "google.colab" in sys.modules' in first, \
        "the first code cell must be the hidden Colab-only install cell"
    assert cells[0]["outputs"] == [], "the Colab install cell must print nothing outside Colab"

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_no_bare_tuples_of_verdicts(path):
    "A reader cannot tell what `(True, True)` compared: each verdict gets a label (a printed line) or an assertion."
    bare = re.compile(r"\((True|False)(, (True|False))+\)")
    found = [i for i, cell in enumerate(code_cells(path)) for out in cell["outputs"]
             if bare.fullmatch("".join(out.get("data", {}).get("text/plain", [])).strip())]
    assert not found, f"code cells {found} show a bare tuple of True/False: label each comparison"
