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
import os, shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROC = ROOT / "_proc"
SITE = ROOT / "_site"
ASSETS = ("_quarto.yml", "styles.css")  # copied from the repo root into the build folder
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
            if r is not None: jobs.append((str(r[0]), str(r[1])))
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
