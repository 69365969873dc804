"""Split notebook cells that mix imports with other code: the imports go into a cell of their own, just before.

    python tools/split_imports.py [NOTEBOOK ...]     # default: every notebook under nbs/; prints what it split

nbdev's site processing runs every cell that imports something (so that later show_doc cells can use the names), and
warns "Found cells containing imports and other code" for a cell that also computes: that code would run at site-build
time, outside the notebook's order, and can fail there (tests/test_site.py checks no cell does). The fix is the one
nbdev's FAQ gives: keep imports in cells of their own. This moves a cell's top-level `import`/`from` statements (with the
comment lines right above them) into a new cell before it; the directives (`#| ...`) stay with the code, and so do the
outputs, the tags and the metadata. Re-run the notebook afterwards (tools/run_nbs.py) to renumber and re-store outputs.
Cells whose only imports are nested (inside a function) are reported, not changed: move those by hand.
"""
import ast, json, pathlib, secrets, sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _mixes(src):
    "nbdev's test (nbdev.processors._do_eval): an Import anywhere in the cell, and an expression or assignment anywhere."
    try: tree = ast.parse(src)
    except SyntaxError: return False           # IPython magics and the like: nbdev does not parse them either
    nodes = list(ast.walk(tree))
    return any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in nodes) and any(isinstance(n, (ast.Expr, ast.Assign)) for n in nodes)


def _directives(lines):
    return [l for l in lines if l.startswith("#|")]


def split_source(src):
    "(imports, rest) of a cell's source, or None when its imports are not all at the top level."
    lines = src.splitlines()
    tree = ast.parse(src)
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    if not top: return None
    take = set()
    for n in top:
        start = n.lineno - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#") and not lines[start - 1].startswith("#|"):
            start -= 1                                  # the comment that explains this import travels with it
        take.update(range(start, n.end_lineno))
    imports = [l for i, l in enumerate(lines) if i in take]
    rest = [l for i, l in enumerate(lines) if i not in take]
    while rest and not rest[0].strip(): rest.pop(0)
    rest_src = "\n".join(rest)
    if any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in ast.walk(ast.parse(rest_src or "pass"))): return None
    directives = [l for l in _directives(lines) if not l.startswith(("#| label", "#| fig-"))]
    return "\n".join(directives + imports), rest_src


def split_notebook(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    cells, done, manual = [], [], []
    for c in nb["cells"]:
        src = "".join(c["source"])
        if c["cell_type"] != "code" or not _mixes(src) or any(l.startswith(("#| export", "#| eval: false")) for l in src.splitlines()):
            cells.append(c); continue
        parts = split_source(src)
        if parts is None:
            manual.append(src.splitlines()[0][:70]); cells.append(c); continue
        imports, rest = parts
        if not ast.parse(rest).body: cells.append(c); continue      # nothing but comments besides the imports
        cells.append({"cell_type": "code", "execution_count": None, "id": secrets.token_hex(4), "metadata": {},
                      "outputs": [], "source": imports.splitlines(keepends=True)})
        c["source"] = rest.splitlines(keepends=True)
        cells.append(c)
        done.append(imports.splitlines()[-1][:70])
    if done:
        nb["cells"] = cells
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return done, manual


if __name__ == "__main__":
    paths = [pathlib.Path(a) for a in sys.argv[1:]] or sorted((ROOT / "nbs").glob("*.ipynb"))
    for p in paths:
        done, manual = split_notebook(p)
        for d in done: print(f"{p.name}: split off {d!r}")
        for m in manual: print(f"{p.name}: NOT split (an import inside a function or block): {m!r}")
