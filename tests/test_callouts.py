"""Callouts and solutions read well in JupyterLab and Colab, and become Quarto callouts on the site (tools/callouts.py).

In the notebooks: no Quarto fence (`::: {.callout-...}` shows as literal text in Jupyter), each solution a `<details>`
fold with its code cell hidden (`jupyter.source_hidden`) and no stray `True` after the checker's verdict. On the site
(tools/build_site.py's `quarto_callouts`): Quarto's callout syntax, and each solution's code cell inside its fold.
"""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import callouts  # noqa: E402

NOTEBOOKS = sorted((ROOT / "nbs").glob("*.ipynb"))
FENCE = re.compile(r"^:::", re.M)


def _cells(p): return json.loads(p.read_text(encoding="utf-8"))["cells"]
def _src(c): return "".join(c["source"])


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_no_quarto_fence_in_the_notebooks(nb_path):
    bad = [i for i, c in enumerate(_cells(nb_path)) if c["cell_type"] == "markdown" and FENCE.search(_src(c))]
    assert not bad, (f"{nb_path.name}: cells {bad} write a Quarto callout (shown as literal ':::' in JupyterLab and Colab): "
                     f"run tools/callouts.py (make clean does)")


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_solutions_fold_in_jupyter(nb_path):
    cells = _cells(nb_path)
    for i, c in enumerate(cells):
        if c["cell_type"] != "markdown" or "<!-- callout: note collapse -->" not in _src(c): continue
        assert "<details><summary>" in _src(c) and _src(c).rstrip().endswith("</details>"), (nb_path.name, i)
        nxt = cells[i + 1] if i + 1 < len(cells) else None
        if nxt is None or nxt["cell_type"] != "code": continue
        assert nxt.get("metadata", {}).get("jupyter", {}).get("source_hidden"), f"{nb_path.name} cell {i + 1}: solution code not hidden"
        last = _src(nxt).rstrip().splitlines()[-1]
        assert not re.match(r"check\.\w+\(.*\)$", last), f"{nb_path.name} cell {i + 1}: `{last}` shows a stray True: assign it (passed = ...)"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_callouts_round_trip(nb_path):
    "Each callout of the Jupyter form is exactly a Quarto callout, and back: nothing is lost on the way to the site."
    for c in _cells(nb_path):
        if c["cell_type"] != "markdown" or "<!-- callout:" not in _src(c): continue
        md = _src(c)
        quarto = callouts.to_quarto(md)
        assert "<!-- callout:" not in quarto, md[:200]
        assert callouts.to_jupyter(quarto) == md


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_site_puts_each_solution_inside_its_fold(nb_path):
    nb = {"cells": _cells(nb_path)}
    n_solutions = sum(1 for c in nb["cells"] if c["cell_type"] == "markdown" and "<!-- callout: note collapse -->" in _src(c))
    out = callouts.notebook_to_quarto(nb)["cells"]
    opened = 0
    for i, c in enumerate(out):
        s = _src(c)
        if c["cell_type"] != "markdown": continue
        assert "<!-- callout:" not in s and "<details>" not in s, f"{nb_path.name}: cell {i} still in the Jupyter form"
        if re.search(r'^::: \{\.callout-note collapse="true"\}', s, re.M) and not s.rstrip().endswith(":::"):
            opened += 1           # a fold left open: its solution code and then the closing fence follow
            assert out[i + 1]["cell_type"] == "code" and _src(out[i + 2]) == ":::", f"{nb_path.name}: cell {i}"
    folds = sum(len(re.findall(r'^::: \{\.callout-note collapse="true"\}', _src(c), re.M)) for c in out if c["cell_type"] == "markdown")
    assert folds == n_solutions and opened <= n_solutions


def test_to_jupyter_examples():
    "A box keeps its title and text; a fold becomes <details>; text after a box stays outside it."
    box = "::: {.callout-tip}\n## Exercise 1.1: Bytes\nWrite `f`.\n\nThen check.\n:::\n\nAfter."
    j = callouts.to_jupyter(box)
    assert j == ("<!-- callout: tip -->\n> **💡 Exercise 1.1: Bytes**\n>\n> Write `f`.\n>\n> Then check.\n<!-- /callout -->\n\nAfter.")
    fold = '::: {.callout-note collapse="true"}\n## Solution to 1.1\nMultiply.\n:::'
    assert callouts.to_jupyter(fold) == ("<!-- callout: note collapse -->\n<details><summary><b>Solution to 1.1</b></summary>"
                                         "\n\nMultiply.\n\n</details>")
    assert callouts.to_quarto(callouts.to_jupyter(box)) == box and callouts.to_quarto(callouts.to_jupyter(fold)) == fold
