"""Export the notebooks into course_lib/: nbdev's exporter, with one change.

    python tools/export.py        (what `make export` runs)

A chapter notebook may export to several modules named for what they hold (chapter 1 writes
`_dtype`, `_device`, `_tensor`, `_tensor_str`, `_creation`), with `#| export <module>` on a cell.
nbdev 2.4's `nbdev_export` only *appends* such cells to a module that another notebook created
(its `ModuleMaker(is_new=False)` asserts the file exists, then appends on every run). Here every
module a notebook names is written fresh by that notebook, so each module has exactly one source
notebook and re-exporting is idempotent. Everything else (processing, `__all__`, `_modidx.py`,
`__init__.py` files) is nbdev's own code, called as `nbdev_export` calls it. Then tools/make_stubs.py
writes `course_lib/_tensor.pyi`, the Tensor class with every method the chapters bind, for editors.
"""
import subprocess, sys
from pathlib import Path
from nbdev.config import get_config, add_init
from nbdev.doclinks import nbglob, _build_modidx
from nbdev.export import nb_export
from nbdev.maker import ModuleMaker


class FreshModule(ModuleMaker):
    "A ModuleMaker that always (re)writes its module, whichever of a notebook's modules it is."
    def __init__(self, dest, name, nb_path, is_new=True, **kwargs):
        super().__init__(dest, name, nb_path, is_new=True, **kwargs)


def export(path=None):
    "Export every notebook (or the notebooks under `path`), as `nbdev_export` does."
    files = nbglob(path=path, as_path=True).sorted("name")
    for f in files:
        nb_export(f, mod_maker=FreshModule)
    add_init(get_config().lib_path)
    _build_modidx()
    # the Tensor stub for editors (tools/make_stubs.py), made from the library just written, in a fresh interpreter
    subprocess.run([sys.executable, str(Path(__file__).with_name("make_stubs.py")), str(get_config().lib_path.parent)], check=True)


if __name__ == "__main__":
    export(sys.argv[1] if len(sys.argv) > 1 else None)
