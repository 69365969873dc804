"""Notebooks are the truth: exporting them again must reproduce course_lib/ exactly."""
import pathlib, shutil, subprocess, sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

def tree(root):
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*.py*"))
            if "__pycache__" not in p.parts and p.suffix in (".py", ".pyi")}

def test_course_lib_matches_the_notebooks(tmp_path):
    shutil.copy(ROOT / "settings.ini", tmp_path)
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    subprocess.run([sys.executable, str(ROOT / "tools" / "export.py")], cwd=tmp_path, check=True, capture_output=True, text=True)
    fresh, committed = tree(tmp_path / "course_lib"), tree(ROOT / "course_lib")
    assert sorted(fresh) == sorted(committed), "module files differ: run `make export` and commit course_lib/"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"course_lib/ is out of step with the notebooks in {stale}: run `make export` (never edit course_lib/ by hand)"
