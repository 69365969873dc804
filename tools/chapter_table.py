"""The home page's chapter table, generated from the chapters themselves, so it cannot fall behind.

    python tools/chapter_table.py            # rewrite the table under "## Chapters" in nbs/index.ipynb
    python tools/chapter_table.py --check    # exit 1 if the table differs from the chapters
    python tools/chapter_table.py --print    # print the table

One row per chapter notebook (`nbs/NN_*.ipynb`, in number order): its number, its title up to the first
": " (the sidebar's text, see _quarto.yml) linked to the notebook, and its `> description` line (the
subtitle nbdev puts under the page title). Edit a chapter's title cell, run this (`make clean` does),
and the home page follows. Only the table's lines change; the rest of the cell is left as it is.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
INDEX = NBS / "index.ipynb"
HEADING = "## Chapters"
HEADER = ["| | chapter | you build |", "|---|---|---|"]


def src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def chapters(nbs=NBS):
    "[(number, notebook path)] of the chapter notebooks, in number order."
    found = []
    for p in nbs.glob("*.ipynb"):
        m = re.match(r"(\d+)_", p.name)
        if m: found.append((int(m.group(1)), p))
    return sorted(found)


def title_and_description(path):
    "The first cell's `# Title` and `> description` (nbdev's front matter)."
    cell = json.loads(path.read_text(encoding="utf-8"))["cells"][0]
    lines = [l.strip() for l in src(cell).splitlines() if l.strip()]
    title = re.sub(r"^#\s+", "", lines[0]) if lines and lines[0].startswith("# ") else path.stem
    desc = next((l[1:].strip() for l in lines[1:] if l.startswith(">")), "")
    return title, desc


def _cell_text(s): return s.replace("|", r"\|").replace("\n", " ").strip()


def table(nbs=NBS):
    "The markdown table, one line per row."
    rows = list(HEADER)
    for n, p in chapters(nbs):
        title, desc = title_and_description(p)
        short = title.split(": ")[0].strip()
        rows.append(f"| {n} | [{_cell_text(short)}]({p.relative_to(nbs).as_posix()}) | {_cell_text(desc)} |")
    return rows


def find_table(nb):
    "(cell index, first line, end line) of the table under the `## Chapters` heading."
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "markdown": continue
        lines = src(c).split("\n")
        if HEADING not in (l.rstrip() for l in lines): continue
        h = [l.rstrip() for l in lines].index(HEADING)
        start = h + 1
        while start < len(lines) and not lines[start].strip(): start += 1
        end = start
        while end < len(lines) and lines[end].lstrip().startswith("|"): end += 1
        return i, start, end
    raise SystemExit(f"index.ipynb has no `{HEADING}` heading in a markdown cell")


def apply(nb, rows):
    "The notebook with its chapter table replaced by `rows`; returns (nb, changed)."
    i, start, end = find_table(nb)
    lines = src(nb["cells"][i]).split("\n")
    new = lines[:start] + rows + ([""] if end < len(lines) and lines[end].strip() else []) + lines[end:]
    if new == lines: return nb, False
    nb["cells"][i]["source"] = "\n".join(new).splitlines(keepends=True)
    return nb, True


def current_rows(nb):
    i, start, end = find_table(nb)
    return src(nb["cells"][i]).split("\n")[start:end]


def main(argv):
    nbs = Path(argv[argv.index("--nbs") + 1]) if "--nbs" in argv else NBS  # --nbs DIR: another copy of nbs/
    index = nbs / "index.ipynb"
    rows = table(nbs)
    if "--print" in argv:
        print("\n".join(rows)); return 0
    nb = json.loads(index.read_text(encoding="utf-8"))
    if "--check" in argv:
        if current_rows(nb) != rows:
            print(f"{index}'s chapter table is not the chapters': run python tools/chapter_table.py")
            return 1
        return 0
    nb, changed = apply(nb, rows)
    if changed:
        index.write_text(json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
        print(f"rewrote the chapter table of {index} ({len(rows) - 2} chapters)")
    return 0


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
