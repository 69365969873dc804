"""Notebook hygiene: what strict nbval needs from the stored notebooks, checked without running them."""
import json, pathlib, re, sys
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from nbclean import clean, dumps  # noqa: E402

NOTEBOOKS = sorted(p for p in (ROOT / "nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
CHAPTERS = [p for p in NOTEBOOKS if re.match(r"\d\d_", p.name)]
ids = lambda ps: [p.name for p in ps]

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
def test_no_stored_warnings_or_errors(path):
    for i, cell in enumerate(code_cells(path)):
        expects_error = "NBVAL_RAISES_EXCEPTION" in src(cell)
        for out in cell["outputs"]:
            assert not (out["output_type"] == "stream" and out["name"] == "stderr"), \
                f"cell {i} wrote to stderr (a warning?): {''.join(out['text'])[:200]}"
            assert out["output_type"] != "error" or expects_error, f"cell {i} raised {out.get('ename')}"

@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_every_nbval_marker_gives_a_reason(path):
    for i, cell in enumerate(code_cells(path)):
        lines = src(cell).splitlines()
        for j, line in enumerate(lines):
            if re.match(r"#\s*NBVAL_(IGNORE_OUTPUT|SKIP)", line):
                nxt = lines[j + 1] if j + 1 < len(lines) else ""
                assert re.match(r"#\s*Reason:", nxt), f"cell {i}: {line.strip()} must be followed by '# Reason: ...'"
        tags = cell.get("metadata", {}).get("tags", [])
        assert not {"nbval-ignore-output", "nbval-skip"} & set(tags), \
            f"cell {i}: use a commented `# NBVAL_...` marker with a reason instead of a tag"

@pytest.mark.parametrize("path", CHAPTERS, ids=ids(CHAPTERS))
def test_colab_install_cell_is_silent_elsewhere(path):
    cells = code_cells(path)
    first = src(cells[0])
    assert first.startswith("#| hide") and 'if "google.colab" in sys.modules' in first, \
        "the first code cell must be the hidden Colab-only install cell"
    assert cells[0]["outputs"] == [], "the Colab install cell must print nothing outside Colab"
