"""Strip volatile notebook metadata but keep outputs, so nbval can still compare them.

`nbdev_clean` would erase execution counts, and nbval then fails every cell that has
outputs with "Unrun reference cell has outputs". This cleaner keeps outputs, renumbers
execution counts 1..N in reading order (what one top-to-bottom run produces), gives every
cell a stable id, and drops metadata that changes from run to run (timings, widget state). The
notebook metadata is what JupyterLab itself writes on opening (kernelspec and the kernel's full
language_info), so opening a notebook in JupyterLab does not change it.

    python tools/nbclean.py [NOTEBOOK ...]   # clean in place (default: every nbs/**/*.ipynb)
    python tools/nbclean.py --check [...]    # exit 1 if any notebook would change
"""
import hashlib, json, pathlib, platform, re, sys

# Cell metadata kept: nbval's markers live in `tags` and their reasons in `nbval` (tools/markers_to_tags.py);
# `jupyter` holds Jupyter's own folding (source_hidden / outputs_hidden), which Jupyter, Colab and VS Code honour.
KEEP_CELL_META = {"tags", "nbval", "jupyter"}
KEEP_JUPYTER_META = {"source_hidden", "outputs_hidden"}
KEEP_NB_META = {"kernelspec", "language_info"}
# What JupyterLab stores on opening a notebook: the kernelspec of the "Python 3 (ipykernel)" kernel and the
# language_info of ipykernel's kernel_info reply (`ipykernel.ipkernel.IPythonKernel.language_info`).
# Storing exactly that means opening and autosaving a notebook leaves it byte for byte unchanged
# (tests/test_notebooks.py simulates it). Only `version` depends on the machine: a stored one is kept,
# so a `make clean` on another Python does not touch every notebook.
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def kernel_language_info():
    "ipykernel's language_info, as JupyterLab receives it (a fixed copy where ipykernel is not installed)."
    try:
        from ipykernel.ipkernel import IPythonKernel
        info = dict(IPythonKernel.language_info)
    except Exception:
        info = {"name": "python", "version": platform.python_version(), "mimetype": "text/x-python",
                "codemirror_mode": {"name": "ipython", "version": 3}, "pygments_lexer": "ipython3",
                "nbconvert_exporter": "python", "file_extension": ".py"}
    return info


def language_info(stored):
    "The kernel's language_info, keeping a stored Python version."
    info = kernel_language_info()
    old = (stored or {}).get("version")
    if isinstance(old, str) and re.fullmatch(r"\d+\.\d+\.\d+\S*", old): info["version"] = old
    return info

def clean(nb, name):
    count = 0
    for i, cell in enumerate(nb["cells"]):
        meta = {k: v for k, v in cell.get("metadata", {}).items() if k in KEEP_CELL_META}
        if "jupyter" in meta:
            meta["jupyter"] = {k: v for k, v in meta["jupyter"].items() if k in KEEP_JUPYTER_META and v}
            if not meta["jupyter"]: del meta["jupyter"]
        if not meta.get("tags", True): del meta["tags"]
        cell["metadata"] = meta
        if "id" not in cell:
            cell["id"] = hashlib.sha1(f"{name}:{i}:{''.join(cell['source'])}".encode()).hexdigest()[:8]
        if cell["cell_type"] != "code": continue
        count += 1
        cell["execution_count"] = count
        for out in cell.get("outputs", []):
            if out.get("output_type") == "execute_result": out["execution_count"] = count
    old_meta = nb.get("metadata", {})
    nb["metadata"] = {"kernelspec": dict(KERNELSPEC), "language_info": language_info(old_meta.get("language_info"))}
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
