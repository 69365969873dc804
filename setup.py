# nbdev 2 style: all metadata comes from settings.ini (MANIFEST.in puts it into the sdist).
from configparser import ConfigParser
from pathlib import Path
import setuptools
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
cfg = ConfigParser(delimiters=["="])
cfg.read(HERE / "settings.ini", encoding="utf-8")
cfg = cfg["DEFAULT"]

licenses = {"apache2": "Apache-2.0"}  # SPDX expressions
# settings.ini's `status` is the number in the classifier: 3 -> "3 - Alpha".
statuses = {"1": "1 - Planning", "2": "2 - Pre-Alpha", "3": "3 - Alpha", "4": "4 - Beta",
            "5": "5 - Production/Stable", "6": "6 - Mature", "7": "7 - Inactive"}
# Python versions torch==2.13.0 has wheels for, from min_python on.
py_versions = ["3.11", "3.12", "3.13"]
py_versions = py_versions[py_versions.index(cfg["min_python"]):]

nb_requirements = cfg["nb_requirements"].split()


class build_py_typed(build_py):
    """Also write the PEP 561 marker `py.typed` into the built package.

    course_lib/ is generated from the notebooks (tools/export.py), so the marker is not kept
    there: it is added to every build (wheel, and the wheel pip builds from the sdist)."""
    def run(self):
        super().run()
        if not self.dry_run and not getattr(self, "editable_mode", False):
            marker = Path(self.build_lib, cfg["lib_path"], "py.typed")
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text("")


setuptools.setup(
    name=cfg["lib_name"],
    version=cfg["version"],
    description=cfg["description"],
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    author=cfg["author"],
    author_email=cfg["author_email"],
    url=cfg["git_url"],
    license=licenses[cfg["license"]],
    keywords=cfg["keywords"].split(),
    classifiers=[
        "Development Status :: " + statuses[cfg["status"]],
        "Intended Audience :: " + cfg["audience"].title(),
        "Natural Language :: " + cfg["language"].title(),
        "Programming Language :: Python :: 3",
        *("Programming Language :: Python :: " + v for v in py_versions),
        "Typing :: Typed",
    ],
    packages=setuptools.find_packages(include=[cfg["lib_path"], cfg["lib_path"] + ".*"]),
    include_package_data=True,
    package_data={cfg["lib_path"]: ["*.pyi"]},   # tools/make_stubs.py's Tensor stub, for editors
    python_requires=">=" + cfg["min_python"],
    install_requires=cfg["requirements"].split(),
    extras_require={
        # What the chapters import besides torch and numpy (each chapter's Colab install cell).
        "notebooks": nb_requirements,
        "dev": cfg["dev_requirements"].split() + nb_requirements,
        # The CUDA backend: CuPy built for CUDA 12 (what Colab's GPU runtimes have).
        "cuda": ["cupy-cuda12x>=13"],
    },
    cmdclass={"build_py": build_py_typed},
    zip_safe=False,
)
