"""Move nbval's testing markers out of the code a reader sees, into cell metadata nbval reads.

    python tools/markers_to_tags.py [NOTEBOOK ...]          # rewrite in place (default: every nbs/**/*.ipynb)
    python tools/markers_to_tags.py --check [NOTEBOOK ...]  # exit 1, naming the cells, if any marker is left

nbval (0.11, `nbval.plugin.find_metadata_tags`) takes its per-cell markers from the cell's tags as well
as from comment lines: `# NBVAL_IGNORE_OUTPUT` is the tag `nbval-ignore-output`, `# NBVAL_SKIP` is
`nbval-skip`, `# NBVAL_RAISES_EXCEPTION` is `nbval-raises-exception`, `# NBVAL_CHECK_OUTPUT` is
`nbval-check-output`. A comment shows in JupyterLab, on Colab and on the site; a tag does not. So each
marker line becomes its tag, and the `# Reason: ...` line under it (the project's rule: every ignored
output says why) becomes the cell's `metadata.nbval.reason`, which tests/test_notebooks.py checks and
tools/nbclean.py keeps. `#|` cell options stay the first lines. Running it twice changes nothing.

In JupyterLab, tags are under the right sidebar's Property Inspector (the gear) -> Cell Tags; or write the
two comment lines in the cell as before and run `make clean`, which runs this first.
"""
import json, pathlib, re, sys
from nbclean import dumps   # the one way notebooks are written (tools/nbclean.py, beside this file)

# nbval's comment markers and the tags that mean the same (nbval/plugin.py: comment_markers, metadata_tags)
TAG_OF = {"NBVAL_IGNORE_OUTPUT": "nbval-ignore-output", "NBVAL_SKIP": "nbval-skip",
          "NBVAL_RAISES_EXCEPTION": "nbval-raises-exception", "NBVAL_CHECK_OUTPUT": "nbval-check-output"}
MARKER_RE = re.compile(r"^\s*#\s*(NBVAL_[A-Z_]+)\s*$")
REASON_RE = re.compile(r"^\s*#\s*Reason:\s*(.*?)\s*$")
REASON_KEY = "nbval"  # metadata.nbval.reason


def src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def split_source(text):
    "nbformat's stored form: a list of lines, each ending in a newline except the last."
    lines = text.splitlines(keepends=True)
    return lines


def move_markers(cell):
    """Move the cell's `# NBVAL_*` lines (and each one's `# Reason:` line) into tags and metadata.

    Returns the list of markers moved (empty when there were none)."""
    if cell.get("cell_type") != "code": return []
    lines = src(cell).splitlines()
    keep, moved, reasons = [], [], []
    i = 0
    while i < len(lines):
        m = MARKER_RE.match(lines[i])
        if m and m.group(1) in TAG_OF:
            moved.append(m.group(1))
            if i + 1 < len(lines) and REASON_RE.match(lines[i + 1]):
                reasons.append(REASON_RE.match(lines[i + 1]).group(1))
                i += 1
            i += 1
            continue
        keep.append(lines[i])
        i += 1
    if not moved: return []
    meta = cell.setdefault("metadata", {})
    tags = meta.setdefault("tags", [])
    for marker in moved:
        if TAG_OF[marker] not in tags: tags.append(TAG_OF[marker])
    if reasons:
        old = meta.get(REASON_KEY, {}).get("reason")
        joined = " ".join(r for r in ([old] if old else []) + reasons if r)
        meta[REASON_KEY] = {**meta.get(REASON_KEY, {}), "reason": joined}
    cell["source"] = split_source("\n".join(keep))
    return moved


def markers_left(nb):
    "[(cell index, line)] of nbval comment markers (or orphan `# Reason:` lines) still in code cells."
    left = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code": continue
        for line in src(c).splitlines():
            if re.match(r"^\s*#\s*NBVAL_", line) or (REASON_RE.match(line) and "nbval" in c.get("metadata", {})):
                left.append((i, line.strip()))
    return left




def main(args):
    check = "--check" in args
    paths = [pathlib.Path(a) for a in args if a != "--check"] or sorted(
        p for p in pathlib.Path("nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    status = 0
    for p in paths:
        nb = json.loads(p.read_text(encoding="utf-8"))
        if check:
            left = markers_left(nb)
            if left:
                status = 1
                print(f"{p}: nbval markers in code (run python tools/markers_to_tags.py {p}):",
                      *(f"  cell {i}: {l}" for i, l in left), sep="\n")
            continue
        moved = {i: move_markers(c) for i, c in enumerate(nb["cells"])}
        moved = {i: m for i, m in moved.items() if m}
        if moved:
            p.write_text(dumps(nb), encoding="utf-8")
            print(f"{p}: moved {sum(map(len, moved.values()))} marker(s) into tags (cells {sorted(moved)})")
    return status


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
