"""Build the course website: nbdev's notebook processing, then Quarto (what `make site` runs).

    python tools/build_site.py          # nbs/ -> _proc/ -> quarto render -> _site/
    python tools/build_site.py --proc   # only the processing step into _proc/ (no Quarto needed)

Quarto must render nbdev-processed notebooks, not the raw ones: Quarto reads a bare
`#| export` or `#| hide` as a cell option and shows garbage while hiding nothing. So, as
`nbdev_docs` does, every notebook under nbs/ goes through nbdev's processors
(`nbdev.processors.FilterDefaults`: directives handled, `#| hide` cells dropped,
`#| export` cells replaced by their `show_doc` signature, `#| exports` cells shown folded,
the first `# Title` / `> description` cell turned into front matter) into `_proc/`; other
files under nbs/ (images...) are copied as they are. The root `_quarto.yml` and
`styles.css` are copied there, `quarto render _proc --no-execute` builds the site (stored
outputs, nothing re-runs) and `_proc/_site` is moved to `_site/` at the repo root.

Unlike `nbdev_docs`, nothing is written into nbs/ (no nbdev.yml, sidebar.yml or
nbs/_quarto.yml): the sidebar is hand-written, in reading order, in the root _quarto.yml.
`process(dest)` is the processing step alone; tests/test_site.py calls it (no Quarto) to
check exactly what Quarto would get.
"""
import ast, json, os, re, shutil, subprocess, sys
from pathlib import Path
import callouts   # tools/callouts.py, beside this file (its folder is on sys.path when this runs or is imported)

ROOT = Path(__file__).resolve().parents[1]
PROC = ROOT / "_proc"
SITE = ROOT / "_site"
ASSETS = ("_quarto.yml", "styles.css", "hanging-indent.html")  # copied from the repo root into the build folder
MARKER = ".course_lib_proc"             # marks a folder process() may wipe
QUARTO_HINT = "quarto not found: install it from https://quarto.org/docs/get-started/ (make site needs it)"


class _cwd:
    "chdir for the duration of a block (nbdev's get_config() looks for settings.ini from the cwd)."
    def __init__(self, path): self.path = path
    def __enter__(self): self.old = os.getcwd(); os.chdir(self.path)
    def __exit__(self, *exc): os.chdir(self.old)


def _proc_one(job):
    "Process one notebook (in a worker process, as nbdev's proc_nbs does). Returns an error text or None."
    src, dst = job
    try:
        os.chdir(ROOT)
        if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))  # course_lib importable for show_doc
        import nbdev.serve_drv
        from nbdev.processors import FilterDefaults
        nbdev.serve_drv.main((Path(src), Path(dst), FilterDefaults))
        return None
    except BaseException as e:  # report it against this notebook, keep processing the others
        import json, re, traceback
        msg = f"{type(e).__name__}: {e}"
        if e.__cause__ is not None: msg += f"\ncaused by {type(e.__cause__).__name__}: {e.__cause__}"
        m = re.search(r"in cell \d+ :\n(.*)", str(e), re.S)
        if m:  # nbdev numbers the processed cells; name the cell of the source notebook instead
            cells = json.loads(Path(src).read_text(encoding="utf-8"))["cells"]
            lines = [l for l in m.group(1).splitlines() if l.strip() and not l.lstrip().startswith("#|")]
            idx = [i for i, c in enumerate(cells) if all(l in "".join(c["source"]) for l in lines)]
            msg += (f"\n(source cell {idx} of {Path(src).name}, counting from 0. While processing, nbdev runs "
                    "every exported cell, show_doc cell and cell containing an import, in order and nothing else: "
                    "such a cell may only use what earlier such cells define; keep imports in cells of their own)")
        return msg + "\n" + "".join(traceback.format_tb(e.__traceback__)[-2:])


# ---------------------------------------------------------------- after nbdev: what Quarto should get

EXPORTED = '#| code-summary: "Exported source"'
COLAB_SVG = "https://colab.research.google.com/assets/colab-badge.svg"
_badge_re = re.compile(r"^\s*\[!\[([^\]]*)\]\(" + re.escape(COLAB_SVG) + r"\)\]\((https://colab\.research\.google\.com/github/[^)\s]+)\)\s*$")
_sd_re = re.compile(r"^#\| echo: false\n#\| output: asis\nshow_doc\(([\w.]+)\)\s*$")


def _src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _code(cell):
    "A code cell's Python without its leading `#|` option lines."
    return "\n".join(l for l in _src(cell).splitlines() if not l.lstrip().startswith("#|"))


def _defs(cell):
    "{name: ast node} of what a code cell defines at top level, in order (a cell that does not parse: {})."
    try: tree = ast.parse(_code(cell))
    except SyntaxError: return {}
    out = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)): out[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for tg in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(tg, ast.Name): out[tg.id] = node
    return out


def fold_exported_source(nb):
    "nbdev shows `#| export` code open (`code-fold: show`); fold it (`code-fold: true`) under its \"Exported source\" summary."
    for c in nb["cells"]:
        if c["cell_type"] == "code" and EXPORTED in _src(c):
            c["source"] = re.sub(r"(?m)^#\| code-fold: show$", "#| code-fold: true", _src(c))
    return nb


def order_reference(nb):
    """Put each show_doc cell nbdev added (`has_sd`) right after the exported cell defining its name, in the
    order the cell defines them. nbdev 2.4's add_show_docs inserts them at the cell's index in the raw
    notebook (stale once the title and hidden cells are gone) and each one before the previous, so
    headings came out of order and away from their code ("Mul", then the block with Add and Mul, then "Add")."""
    cells = nb["cells"]
    sources = [(i, _defs(c)) for i, c in enumerate(cells) if c["cell_type"] == "code" and EXPORTED in _src(c)]
    owner = {}
    for j, c in enumerate(cells):
        m = _sd_re.match(_src(c)) if c["cell_type"] == "code" and c.get("has_sd") else None
        if not m: continue
        name = m.group(1)
        cands = [i for i, defs in sources if name in defs]
        if cands: owner[j] = min(cands, key=lambda i: (abs(i - j), i))  # the nearest definition
    after = {}
    for j, i in owner.items(): after.setdefault(i, []).append(j)
    out = []
    for k, c in enumerate(cells):
        if k in owner: continue
        out.append(c)
        if k in after:
            order = list(dict(sources)[k])
            for j in sorted(after[k], key=lambda j: (order.index(_sd_re.match(_src(cells[j])).group(1)), j)):
                out.append(cells[j])
    nb["cells"] = out
    return nb


def _library_functions():
    """{name: [Function subclasses of that name]} over every course_lib module, imported (the exported library,
    which tests/test_export.py keeps equal to the notebooks). Classes that inherit forward/backward count too."""
    import importlib, pkgutil
    if str(ROOT) not in sys.path: sys.path.insert(0, str(ROOT))
    lib = importlib.import_module("course_lib")
    Function = importlib.import_module("course_lib.autograd").Function
    found = {}
    for info in pkgutil.walk_packages(lib.__path__, "course_lib."):
        try: mod = importlib.import_module(info.name)
        except Exception: continue
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and issubclass(obj, Function) and obj is not Function and obj.__module__ == mod.__name__:
                found.setdefault(name, []).append(obj)
    return found


def _exports_of(nb):
    "The modules a processed notebook's cells export to (`#| default_exp` / `#| export <module>`), as course_lib.X."
    mods = set()
    for c in nb["cells"]:
        for m in re.finditer(r"(?m)^#\|\s*(?:default_exp|exports?|exporti)\s+([\w.]+)\s*$", _src(c)):
            mods.add("course_lib." + m.group(1))
    return mods


def _function_classes(nb, raw=None):
    """{name: class} of the Function subclasses a notebook's reference documents: those of the library whose
    module the notebook exports (or the only class of that name)."""
    shown = {m.group(1) for c in nb["cells"] if c["cell_type"] == "code" for m in [_sd_re.match(_src(c))] if m}
    lib, mods = _library_functions(), _exports_of(raw or nb)
    out = {}
    for name in shown:
        cands = lib.get(name, [])
        mine = [c for c in cands if c.__module__ in mods] or (cands if len(cands) == 1 else [])
        if mine: out[name] = mine[0]
    return out


def _signature_block(cls):
    "```python class Mul(Function): forward(ctx, a, b) / backward(ctx, g) ``` with what the class really has."
    import inspect
    lines = [f"class {cls.__name__}({', '.join(b.__name__ for b in cls.__bases__)}):"]
    for meth in ("forward", "setup_context", "backward"):
        f = inspect.getattr_static(cls, meth, None)
        if f is None: continue
        fn = f.__func__ if isinstance(f, (staticmethod, classmethod)) else f
        try: sig = str(inspect.signature(fn))
        except (TypeError, ValueError): continue
        deco = "    @staticmethod\n" if isinstance(f, staticmethod) else "    @classmethod\n" if isinstance(f, classmethod) else ""
        lines.append(f"{deco}    def {meth}{sig}: ...")
    return "```python\n" + "\n".join(lines) + "\n```"


def function_signatures(nb, raw=None):
    """show_doc gives a `Function` subclass the signature `Mul(*args, **kwargs)` (what `type.__call__` takes);
    a reader needs `forward(ctx, a, b)` and `backward(ctx, g)`, so the reference shows those instead."""
    classes = _function_classes(nb, raw)
    for c in nb["cells"]:
        m = _sd_re.match(_src(c)) if c["cell_type"] == "code" else None
        if not m or m.group(1) not in classes: continue
        block = _signature_block(classes[m.group(1)])
        for o in c.get("outputs", []):
            md = o.get("data", {}).get("text/markdown")
            if md is None: continue
            new = re.sub(r"```python\n.*?\n```", lambda _: block, _src({"source": md}), count=1, flags=re.S)
            o["data"]["text/markdown"] = new.splitlines(keepends=True)
    return nb


def inline_colab_badge(nb):
    """Quarto renders a paragraph holding only an image (even a linked one) as a centred figure with the alt
    text as its caption. The badge is written as an inline HTML link instead, which Quarto leaves inline."""
    for c in nb["cells"]:
        if c["cell_type"] != "markdown": continue
        m = _badge_re.match(_src(c))
        if m:
            c["source"] = (f'<a href="{m.group(2)}" class="colab-badge"><img src="{COLAB_SVG}" '
                           f'alt="{m.group(1)}" style="display: inline"></a>')
    return nb


def quarto_callouts(nb):
    """The notebooks write callouts in a form JupyterLab and Colab render (tools/callouts.py): a quoted box, and a
    `<details>` fold for a solution. Quarto gets its own callout syntax back, each solution's code inside its fold."""
    return callouts.notebook_to_quarto(nb)


POSTPROCESS = (quarto_callouts, fold_exported_source, order_reference, function_signatures, inline_colab_badge)


def postprocess(path, raw=None):
    "Apply POSTPROCESS to one processed notebook in place (`raw`: its source notebook, for its export targets)."
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    raw = json.loads(Path(raw).read_text(encoding="utf-8")) if raw else None
    for f in POSTPROCESS: nb = f(nb, raw) if f is function_signatures else f(nb)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _clear(dest):
    dest = Path(dest)
    if dest.exists():
        if dest != PROC and not (dest / MARKER).exists() and any(dest.iterdir()):
            raise RuntimeError(f"{dest} exists and was not made by tools/build_site.py; refusing to delete it")
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    (dest / MARKER).write_text("made by tools/build_site.py; deleted and rebuilt on every build\n")


def process(dest=PROC, n_workers=2, strict=True):
    """nbdev's docs processing of every notebook under nbs/ into `dest`, plus the site assets.

    Same as nbdev's `proc_nbs` (what `nbdev_docs` renders from): the same file selection
    (`nbglob` + `_proc_file`: dot/underscore files and folders skipped, non-notebook files
    copied) and the same per-notebook driver (`nbdev.serve_drv.main` with `FilterDefaults`)
    in spawned worker processes, a fresh one per notebook. `dest` is wiped first (the repo's _proc/ always;
    another folder only if empty or made by this function). Returns {notebook path: error
    text or None}; with `strict`, raises if any notebook failed."""
    from nbdev.config import get_config
    from nbdev.doclinks import nbglob
    from nbdev.serve import _proc_file
    dest = Path(dest).resolve()
    _clear(dest)
    with _cwd(ROOT):
        nbs = get_config().nbs_path
        files = nbglob(nbs, func=Path, file_glob="", file_re="")
        jobs = []
        for f in files:
            r = _proc_file(Path(f), dest, nbs)  # copies plain files itself, returns (src, dst, procs) for notebooks
            if r is not None: jobs.append((str(Path(r[0]).resolve()), str(Path(r[1]).resolve())))
        errors = {}
        if jobs:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor
            n = max(1, min(n_workers or 1, len(jobs)))
            # One fresh process per notebook: processing runs a notebook's exported cells, and a chapter's
            # exports may patch library classes (chapter 2's placeholder Tensor.sum, say) that later chapters
            # replace; a reused worker would carry those patches into the next notebook.
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1) as ex:
                for (src, _), err in zip(jobs, ex.map(_proc_one, jobs)): errors[Path(src).resolve()] = err
    for src, dst in jobs:  # after nbdev: fold exported code, order the reference, Function signatures, the badge
        if not errors.get(Path(src).resolve()): postprocess(dst, src)
    for name in ASSETS:
        if (ROOT / name).exists(): shutil.copy2(ROOT / name, dest / name)
    failed = {k: v for k, v in errors.items() if v}
    if strict and failed:
        msg = "\n".join(f"--- {k.relative_to(ROOT)}\n{v}" for k, v in failed.items())
        raise RuntimeError(f"nbdev processing failed for {len(failed)} notebook(s):\n{msg}")
    return errors


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if "--proc" in argv:
        process(PROC)
        print(f"processed notebooks into {PROC.relative_to(ROOT)}/")
        return 0
    quarto = shutil.which("quarto")
    if not quarto:
        print(QUARTO_HINT)
        return 1
    process(PROC)
    r = subprocess.run([quarto, "render", str(PROC), "--no-execute"], cwd=ROOT)
    if r.returncode: return r.returncode
    out = PROC / "_site"
    if not out.is_dir():
        print(f"quarto render did not produce {out}")
        return 1
    shutil.rmtree(SITE, ignore_errors=True)
    shutil.move(str(out), str(SITE))
    print(f"site built in {SITE.relative_to(ROOT)}/ (open {SITE.relative_to(ROOT)}/index.html)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
