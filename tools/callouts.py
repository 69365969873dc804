"""Callouts and folded solutions that read well in JupyterLab and Colab, and become Quarto callouts on the site.

    python tools/callouts.py [NOTEBOOK ...]     # rewrite Quarto callouts in notebooks to the Jupyter form (default: nbs/)

Quarto's callout syntax (`::: {.callout-tip}` ... `:::`) shows as literal text in JupyterLab and Colab, and a solution
"folded" with `collapse="true"` sits open under its exercise. In the notebooks, a callout is therefore written as
what every notebook front end renders, after an HTML comment (invisible everywhere) that names the callout:

    <!-- callout: tip -->                        <!-- callout: note collapse -->
    > **💡 Exercise 9.1: Mini-batch indices**     <details><summary><b>Solution to 9.1</b></summary>
    >
    > Write `batch_indices(...)` ...              Make the order once ...
    <!-- /callout -->
                                                 </details>

a quoted box, or a `<details>` element that folds. The solution's code cell right after it gets Jupyter's
`source_hidden` (JupyterLab shows it collapsed), and its checker's result is assigned, `passed = check...` (no stray `True` under the verdict).
`tools/build_site.py` turns each back into Quarto's callout (`to_quarto`), with the solution's code cell inside the
folded callout. `to_quarto(to_jupyter(md)) == md` for every callout of the course (tests/test_callouts.py).
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ICONS = {"tip": "💡", "note": "📝", "warning": "⚠️", "caution": "🚧", "important": "❗"}

_QUARTO = re.compile(r'^::: \{\.callout-(\w+)( collapse="true")?\}\n## (.*)\n((?:(?!^:::$).*\n)*?):::$', re.M)
_JUPYTER_BOX = re.compile(r"^<!-- callout: (\w+) -->\n> \*\*\S+ (.*)\*\*\n((?:>.*\n)*)<!-- /callout -->$", re.M)
_JUPYTER_FOLD = re.compile(r"^<!-- callout: (\w+) collapse -->\n<details><summary><b>(.*)</b></summary>\n\n((?:.*\n)*?)\n</details>$", re.M)


def to_jupyter(md):
    "Every Quarto callout in markdown `md`, in the Jupyter form."
    def one(m):
        kind, fold, title, body = m.group(1), m.group(2), m.group(3), m.group(4)
        if fold: return f"<!-- callout: {kind} collapse -->\n<details><summary><b>{title}</b></summary>\n\n{body}\n</details>"
        quoted = "".join(f"> {l}\n" if l else ">\n" for l in body[:-1].split("\n"))
        return f"<!-- callout: {kind} -->\n> **{ICONS.get(kind, '📝')} {title}**\n>\n{quoted}<!-- /callout -->"   # ends the quote
    return _QUARTO.sub(one, md)


def to_quarto(md, close=True):
    "Every callout of the Jupyter form in `md`, as Quarto's; `close=False` leaves a folded one open (its code follows)."
    def box(m):
        lines = [l[2:] if l.startswith("> ") else l[1:] for l in m.group(3)[:-1].split("\n")]
        if lines and lines[0] == "": lines = lines[1:]
        return f"::: {{.callout-{m.group(1)}}}\n## {m.group(2)}\n" + "\n".join(lines) + "\n:::"
    def fold(m):
        return f'::: {{.callout-{m.group(1)} collapse="true"}}\n## {m.group(2)}\n{m.group(3)}' + (":::" if close else "").rstrip("\n")
    return _JUPYTER_FOLD.sub(fold, _JUPYTER_BOX.sub(box, md))


def _src(c): return "".join(c["source"])


def _is_fold(md): return bool(_JUPYTER_FOLD.search(md))


def notebook_to_jupyter(nb):
    "Rewrite a notebook's callouts to the Jupyter form; hide the solution code that follows a folded one. True if changed."
    changed = False
    cells = nb["cells"]
    for i, c in enumerate(cells):
        if c["cell_type"] != "markdown": continue
        new = to_jupyter(_src(c))
        if new == _src(c): continue
        c["source"] = new.splitlines(keepends=True)
        changed = True
        if _is_fold(new) and i + 1 < len(cells) and cells[i + 1]["cell_type"] == "code":
            code = cells[i + 1]
            code.setdefault("metadata", {}).setdefault("jupyter", {})["source_hidden"] = True
            lines = _src(code).rstrip("\n").split("\n")
            lines = [l for l in lines if l.strip() != "#| code-fold: true"]   # the callout folds it on the site
            if lines and re.match(r"check\.\w+\(.*\)$", lines[-1]):   # the verdict, without a stray True under it
                lines[-1] = "passed = " + lines[-1]           # (nbval shows a result that ends in `;`, so no `;`)
            code["source"] = "\n".join(lines).splitlines(keepends=True)
    return changed


def notebook_to_quarto(nb):
    "The site's form (tools/build_site.py): Quarto callouts, each folded solution holding the code cell that follows it."
    cells, out = nb["cells"], []
    i = 0
    while i < len(cells):
        c = cells[i]
        if c["cell_type"] == "markdown" and ("<!-- callout:" in _src(c)):
            md = _src(c)
            nxt = cells[i + 1] if i + 1 < len(cells) else None
            holds = (_JUPYTER_FOLD.search(md) is not None and md.rstrip().endswith("</details>") and nxt is not None
                     and nxt["cell_type"] == "code" and nxt.get("metadata", {}).get("jupyter", {}).get("source_hidden"))
            c["source"] = _open_last(md) if holds else to_quarto(md)
            out.append(c)
            if holds:
                out.append(nxt)
                out.append({"cell_type": "markdown", "metadata": {}, "source": [":::"], "id": (nxt.get("id") or "x")[:6] + "cl"})
                i += 2; continue
        out.append(c); i += 1
    nb["cells"] = out
    return nb


def _open_last(md):
    "Quarto form of `md`, with its last callout (the folded solution) left open for the code cell after it."
    folds = list(_JUPYTER_FOLD.finditer(md))
    last = folds[-1]
    head = to_quarto(md[:last.start()])
    return head + to_quarto(md[last.start():], close=False)


def main(argv):
    paths = [Path(a) for a in argv] or sorted((ROOT / "nbs").glob("*.ipynb"))
    for p in paths:
        nb = json.loads(p.read_text(encoding="utf-8"))
        if notebook_to_jupyter(nb):
            p.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
            print(f"{p.name}: callouts in the Jupyter form")
    return 0


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
