"""Strip volatile notebook metadata but keep outputs, so nbval can still compare them.

`nbdev_clean` would erase execution counts, and nbval then fails every cell that has
outputs with "Unrun reference cell has outputs". This cleaner keeps outputs, renumbers
execution counts 1..N in reading order (what one top-to-bottom run produces), gives every
cell a stable id, and drops metadata that changes from run to run (timings, widget state).

    python tools/nbclean.py [NOTEBOOK ...]   # clean in place (default: every nbs/**/*.ipynb)
    python tools/nbclean.py --check [...]    # exit 1 if any notebook would change
"""
import hashlib, json, pathlib, sys

KEEP_CELL_META = {"tags"}                      # nbval markers live in tags
KEEP_NB_META = {"kernelspec", "language_info"}

def clean(nb, name):
    count = 0
    for i, cell in enumerate(nb["cells"]):
        cell["metadata"] = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_META}
        if "id" not in cell:
            cell["id"] = hashlib.sha1(f"{name}:{i}:{''.join(cell['source'])}".encode()).hexdigest()[:8]
        if cell["cell_type"] != "code": continue
        count += 1
        cell["execution_count"] = count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result": out["execution_count"] = count
    nb["metadata"] = {k: v for k, v in nb.get("metadata", {}).items() if k in KEEP_NB_META}
    if "language_info" in nb["metadata"]: nb["metadata"]["language_info"] = {"name": "python"}
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return nb

def dumps(nb): return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n"

def main(args):
    check = "--check" in args
    paths = [pathlib.Path(a) for a in args if a != "--check"] or sorted(
        p for p in pathlib.Path("nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
    dirty = []
    for p in paths:
        old = p.read_text()
        new = dumps(clean(json.loads(old), p.name))
        if new != old:
            dirty.append(str(p))
            if not check: p.write_text(new)
    if check and dirty:
        print("not clean (run `make clean`):", *dirty, sep="\n  ")
        return 1
    return 0

if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
