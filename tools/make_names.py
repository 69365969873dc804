"""Derive nbs/data/names.txt, the language-model chapters' corpus (16-18), from the 1990 US Census first names.

    .venv/bin/pip install names==0.3.0     # PyPI, MIT licence; ships the Census files dist.male.first, dist.female.first
    .venv/bin/python tools/make_names.py   # writes nbs/data/names.txt

Each Census line is `NAME  freq  cumulative-freq  rank`. We keep the name, lowercased, from both files; keep only
a-z words (all of them are); drop the duplicates (a name given to boys and girls appears in both files); and write
them one per line in alphabetical order, so the file does not depend on the package's file order. The chapters read
the shipped file and never need the `names` package.
"""
import pathlib, re, sys
import names

SRC = pathlib.Path(names.__file__).parent
OUT = pathlib.Path(__file__).resolve().parents[1] / "nbs" / "data" / "names.txt"

def words(path):
    "The names of one Census file, lowercased."
    return [line.split()[0].lower() for line in path.read_text().splitlines() if line.strip()]

if __name__ == "__main__":
    found = words(SRC / "dist.male.first") + words(SRC / "dist.female.first")
    kept = sorted({w for w in found if re.fullmatch(r"[a-z]+", w)})
    OUT.write_text("\n".join(kept) + "\n")
    print(f"{len(found)} names read, {len(kept)} distinct a-z names written to {OUT}", file=sys.stderr)
