"""Offline checks of the course website (no Quarto needed; runs in `make test`).

The site is built by tools/build_site.py: nbdev's notebook processing (nbs/ -> _proc/),
then `quarto render --no-execute` with the root _quarto.yml. These tests run the same
processing (`build_site.process`) into a temporary folder and check what Quarto would get:

(a) every notebook under nbs/ is in the sidebar (except EXCLUDED, with a reason), every
    sidebar entry exists, in reading order, labelled "N. <title up to its first ': '>";
(b) after processing, no code cell carries a `#|` line that is not a Quarto cell option;
(c) every callout is well formed: pandoc reads the page's markdown and finds each
    `::: {.callout-*}` as a Div of that class, no stray `:::` is left in the text, kinds are
    Quarto's five, every callout has a title (a `## Title` line; required for collapse);
(d) each chapter's Colab badge points at its own path on `branch` of `git_url`;
(e) _quarto.yml's title/description/repo-url/... match settings.ini;
(f) `make site` without Quarto prints a one-line hint and exits non-zero.
Plus: the title cell holds only `# Title` + `> description` (nbdev drops that whole cell),
the Colab install cell is hidden, and links to other chapters point at notebooks.

`python tests/test_site.py` prints the chapters and callout counts per kind.
"""
import configparser, json, os, re, shutil, subprocess, sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NBS = ROOT / "nbs"
sys.path.insert(0, str(ROOT / "tools"))
import build_site  # noqa: E402

_ini = configparser.ConfigParser(delimiters=["="], interpolation=None)
_ini.read(ROOT / "settings.ini", encoding="utf-8")
CFG = _ini["DEFAULT"]

# Notebooks deliberately left out of the sidebar: {"nbs/<path>.ipynb": "reason"}.
EXCLUDED = {}
# Notebooks without the Colab badge / Colab install cell: {"nbs/<path>.ipynb": "reason"}.
NO_COLAB = {}
# Chapters planned in /work/authoring/DESIGN.md: links to them are fine before they land.
PLANNED = ["index", "00_pytorch_basics", "01_tensor", "02_broadcasting", "03_autograd", "04_ops",
           "05_losses", "06_gradcheck", "07_nn", "08_optim", "09_training", "10_devices",
           "11_custom_function"]

CALLOUT_KINDS = {"note", "tip", "warning", "important", "caution"}  # quarto.org/docs/authoring/callouts.html
# nbdev directives: Quarto must never see these (it would read them as broken cell options).
NBDEV_DIRECTIVES = {"export", "exports", "exporti", "exec_doc", "hide", "hide_line", "default_exp",
                    "default_cls_lvl", "export_to", "eval_doc", *CFG.get("tst_flags", "").split()}


def _notebooks():
    "Notebooks nbdev processes for the docs: under nbs/, skipping `_*`/`.*` files and folders."
    return sorted(p for p in NBS.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(NBS).parts))


NOTEBOOKS = _notebooks()
IDS = [str(p.relative_to(NBS)) for p in NOTEBOOKS]
nb_param = pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=IDS)


def rel(p): return str(Path(p).relative_to(ROOT))
def src(cell): return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
def load_nb(p): return json.loads(Path(p).read_text(encoding="utf-8"))


def quarto_yml(): return yaml.safe_load((ROOT / "_quarto.yml").read_text(encoding="utf-8"))


def sidebar_entries(cfg=None):
    "Flattened sidebar entries [(href, text or None)] in order, from every sidebar in website.sidebar."
    cfg = cfg or quarto_yml()
    sb = cfg.get("website", {}).get("sidebar", [])
    out = []
    def walk(items):
        for it in items or []:
            if isinstance(it, str): out.append((it, None))
            elif isinstance(it, dict):
                if "href" in it: out.append((it["href"], it.get("text")))
                if isinstance(it.get("contents"), list): walk(it["contents"])
                elif isinstance(it.get("contents"), str): out.append((it["contents"], None))
    for s in (sb if isinstance(sb, list) else [sb]): walk(s.get("contents"))
    return out


def nb_title(nb):
    "The `# Title` of the notebook's first markdown cell (what nbdev turns into the page title)."
    first = next((c for c in nb["cells"] if c["cell_type"] == "markdown"), None)
    m = re.match(r"\s*#\s+(.+?)\s*$", src(first).splitlines()[0]) if first and src(first).strip() else None
    return m.group(1) if m else None


# ---------------------------------------------------------------- processing (once per session)

@pytest.fixture(scope="module")
def processed(tmp_path_factory):
    "nbdev's docs processing of nbs/ into a temporary build folder: {notebook: error or None}, folder."
    dest = tmp_path_factory.mktemp("site") / "_proc"
    errors = build_site.process(dest, strict=False)
    return errors, dest


def processed_nb(processed, nb_path):
    errors, dest = processed
    if errors.get(nb_path): pytest.skip(f"nbdev processing failed: see test_nbdev_processing[{nb_path.relative_to(NBS)}]")
    return load_nb(dest / nb_path.relative_to(NBS))


@nb_param
def test_nbdev_processing(nb_path, processed):
    "nbdev's docs processing (what `make site` runs before Quarto) succeeds on every notebook."
    errors, dest = processed
    err = errors.get(nb_path)
    assert not err, f"nbdev processing of {rel(nb_path)} failed (make site fails on it too):\n{err}"
    assert (dest / nb_path.relative_to(NBS)).exists()


# ---------------------------------------------------------------- Quarto's view of a page

def _fence(body):
    f = "```"
    while f in body: f += "`"
    return f


def quarto_markdown(nb):
    """The page as one markdown document, the way Quarto's Jupyter engine lays out a notebook:
    raw/markdown cells verbatim, each code cell a `::: {.cell}` Div holding its code block and
    its markdown outputs (show_doc's `output: asis`). So a callout may span several cells."""
    parts = []
    for c in nb["cells"]:
        s = src(c)
        if c["cell_type"] in ("markdown", "raw"): parts.append(s)
        elif c["cell_type"] == "code":
            f = _fence(s)
            block = ["::: {.cell}", f"{f}python", s, f]
            for o in c.get("outputs", []):
                md = o.get("data", {}).get("text/markdown")
                if md is not None:
                    block += ["", "::: {.cell-output .cell-output-display}", "", src({"source": md}), "", ":::"]
            block.append(":::")
            parts.append("\n".join(block))
    return "\n\n".join(parts) + "\n"


def pandoc_ast(md):
    "pandoc's (PyPI pypandoc-binary) reading of the page as Pandoc markdown, Quarto's dialect: (AST, warnings)."
    import pypandoc
    r = subprocess.run([pypandoc.get_pandoc_path(), "-f", "markdown", "-t", "json"], input=md,
                       capture_output=True, text=True, encoding="utf-8", check=True)
    return json.loads(r.stdout), [l for l in r.stderr.splitlines() if l.strip()]


def _stringify(x):
    if isinstance(x, list): return "".join(_stringify(i) for i in x)
    if not isinstance(x, dict): return ""
    t, c = x.get("t"), x.get("c")
    if t == "Str": return c
    if t in ("Space",): return " "
    if t in ("SoftBreak", "LineBreak"): return "\n"
    if t in ("Code", "Math"): return c[1]
    return _stringify(c)


def _walk(x, visit):
    if isinstance(x, list):
        for i in x: _walk(i, visit)
    elif isinstance(x, dict) and "t" in x:
        visit(x)
        _walk(x.get("c"), visit)


def callouts_in_ast(ast):
    "[(kind, attrs dict, has_title, first block text)] for every Div with a callout class."
    found = []
    def visit(el):
        if el["t"] != "Div": return
        (_id, classes, kvs), blocks = el["c"]
        for cl in classes:
            if cl == "callout" or cl.startswith("callout-"):
                kv = dict(kvs)
                titled = bool(kv.get("title", "").strip()) or bool(blocks and blocks[0]["t"] == "Header")
                found.append((cl[len("callout-"):] if cl != "callout" else "", kv, titled,
                              _stringify(blocks[:1])[:80]))
    _walk(ast["blocks"], visit)
    return found


def stray_fences(ast):
    "Text blocks (paragraphs, headings...) whose text still contains `:::`: a fence pandoc did not take."
    bad = []
    def visit(el):
        if el["t"] in ("Para", "Plain", "Header", "LineBlock"):
            inl = el["c"][2] if el["t"] == "Header" else el["c"]
            strs = []
            _walk(inl, lambda e: strs.append(e["c"]) if e["t"] == "Str" else None)
            if any(":::" in s for s in strs): bad.append(_stringify(inl))
    _walk(ast["blocks"], visit)
    return bad


_fence_re = re.compile(r"^\s*:{3,}(.*)$")


def callout_fences_in_source(md):
    "Kinds of the `:::` opening lines that mention a callout (outside code blocks), as authored."
    kinds, in_code = [], None
    for line in md.splitlines():
        m = re.match(r"^\s*(`{3,}|~{3,})", line)
        if m:
            if in_code is None: in_code = m.group(1)
            elif m.group(1).startswith(in_code): in_code = None
            continue
        if in_code: continue
        f = _fence_re.match(line)
        if f and "callout" in f.group(1):
            k = re.search(r"callout(?:-([\w-]+))?", f.group(1))
            kinds.append(k.group(1) or "")
    return kinds


def _cells_with(nb, needle):
    return [i for i, c in enumerate(nb["cells"]) if needle and needle in src(c)]


# ---------------------------------------------------------------- (e) _quarto.yml vs settings.ini

def test_quarto_yml_is_a_course_website():
    q = quarto_yml()
    assert q["project"]["type"] == "website"
    assert q["project"]["output-dir"] == "_site"
    assert q["execute"]["enabled"] is False, "the site must show stored outputs, never re-run notebooks"
    w = q["website"]
    assert w["sidebar"]["contents"], "the sidebar lists the chapters"
    assert w.get("search", True) is not False and w["sidebar"].get("search", True) is not False
    assert w["page-navigation"] is True
    assert set(w["repo-actions"]) <= {"edit", "source", "issue"} and w["repo-actions"]
    html = q["format"]["html"]
    assert {"light", "dark"} <= set(html["theme"]), "theme needs a light and a dark variant"
    assert html["code-copy"] is True
    assert html.get("html-math-method", "mathjax") in ("mathjax", "katex")
    for css in ([html["css"]] if isinstance(html.get("css"), str) else html.get("css", [])):
        assert (ROOT / css).exists(), f"{css} is referenced by _quarto.yml but missing at the repo root"


def test_quarto_yml_matches_settings_ini():
    w = quarto_yml()["website"]
    assert w["title"] == CFG["title"]
    assert w["description"] == CFG["description"]
    assert w["repo-url"] == CFG["git_url"]
    assert w["repo-branch"] == CFG["branch"]
    assert w["site-url"] == CFG["doc_host"] + CFG["doc_baseurl"]
    assert w["repo-subdir"] == CFG["nbs_path"], "source links must point into nbs/ (the site is built from _proc/)"


# ---------------------------------------------------------------- (a) sidebar

def test_sidebar_entries_exist_in_reading_order():
    hrefs = [h for h, _ in sidebar_entries()]
    missing = [h for h in hrefs if not (NBS / h).exists()]
    assert not missing, f"sidebar entries with no notebook under nbs/: {missing}"
    dups = [h for h, n in Counter(hrefs).items() if n > 1]
    assert not dups, f"listed twice in the sidebar: {dups}"
    def key(h):
        m = re.match(r"(\d+)_", Path(h).name)
        return (0, -1) if Path(h).stem == "index" else (1, int(m.group(1))) if m else (2, 0)
    assert hrefs == sorted(hrefs, key=key), f"sidebar is not in reading order (index, 00, 01, ...): {hrefs}"


@nb_param
def test_notebook_in_sidebar(nb_path):
    r = str(nb_path.relative_to(NBS))
    if f"nbs/{r}" in EXCLUDED: return
    entries = dict(sidebar_entries())
    title = nb_title(load_nb(nb_path))
    m = re.match(r"(\d+)_", nb_path.name)
    short = title.split(": ")[0].strip()  # "Optimizers: SGD, momentum and Adam" -> "Optimizers"
    want = f"{int(m.group(1))}. {short}" if m else short
    assert r in entries, (f"{r} is not in _quarto.yml's sidebar: add\n      - href: {r}\n        text: \"{want}\"\n"
                          f"to website.sidebar.contents in reading order, or list it in EXCLUDED with a reason")
    if nb_path.stem == "index": return  # the home page's sidebar text is free ("Start here")
    assert entries[r] in (None, want), (f"sidebar text for {r} is {entries[r]!r}; its title {title!r} gives {want!r} "
                                        f"(chapter number, then the title up to its first ': ')")


# ---------------------------------------------------------------- nbdev front matter

@nb_param
def test_title_cell(nb_path, processed):
    "nbdev makes the first `# Title` cell the front matter and drops the whole cell: nothing else may be in it."
    nb = load_nb(nb_path)
    first = nb["cells"][0] if nb["cells"] else None
    assert first and first["cell_type"] == "markdown", "the first cell must be the markdown title cell"
    lines = [l for l in src(first).splitlines() if l.strip()]
    assert lines and re.match(r"#\s+\S", lines[0]), f"the first cell must start with `# Title`: {src(first)[:200]!r}"
    extra = [l for l in lines[1:] if not l.startswith(">")]
    assert not extra and len(lines) <= 2, (
        f"cell 0 holds more than `# Title` + `> description`; nbdev drops the whole cell, so this never "
        f"reaches the site: {extra or lines[2:]}")
    fm = processed_nb(processed, nb_path)["cells"][0]
    assert fm["cell_type"] == "raw" and "title: " in src(fm), "nbdev did not produce front matter"


# ---------------------------------------------------------------- (b) cell options Quarto sees

_opt_re = re.compile(r"^\s*#\|\s*([\w-]+)\s*:\s*(\S.*)$")


@nb_param
def test_no_stray_directives(nb_path, processed):
    nb = processed_nb(processed, nb_path)
    problems = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code": continue
        lines = src(c).splitlines()
        lead = 0
        while lead < len(lines) and lines[lead].lstrip().startswith("#|"): lead += 1
        for j, line in enumerate(lines):
            if not line.lstrip().startswith("#|"): continue
            m = _opt_re.match(line)
            if j >= lead: problems.append((i, line, "after the code starts (Quarto shows it as a comment)"))
            elif not m: problems.append((i, line, "not a Quarto `key: value` cell option"))
            elif m.group(1) in NBDEV_DIRECTIVES: problems.append((i, line, "an nbdev directive left for Quarto"))
        if lead:
            try: opts = yaml.safe_load("\n".join(l.lstrip()[2:] for l in lines[:lead]))
            except yaml.YAMLError as e: opts = e
            if not isinstance(opts, dict): problems.append((i, "\n".join(lines[:lead]), f"not YAML key: value ({opts})"))
    assert not problems, f"{rel(nb_path)}: `#|` lines Quarto would misread (processed cell, line, why):\n" + \
        "\n".join(map(repr, problems))


# ---------------------------------------------------------------- (c) callouts

@nb_param
def test_callouts(nb_path, processed):
    nb = processed_nb(processed, nb_path)
    md = quarto_markdown(nb)
    ast, warnings = pandoc_ast(md)
    raw = load_nb(nb_path)
    problems = []
    for w in warnings:
        if "unclosed" in w:
            n = int(re.search(r"line (\d+)", w).group(1))
            opener = md.splitlines()[n - 1] if 0 < n <= len(md.splitlines()) else "?"
            problems.append(f"a `:::` Div is never closed, so it swallows the rest of the page: {opener!r} "
                            f"[source cells {_cells_with(raw, opener.strip())}] (pandoc: {w})")
    for para in stray_fences(ast):
        line = next((l for l in para.splitlines() if ":::" in l), para)
        problems.append(f"stray `:::` left in the text (a fence pandoc/Quarto did not take; a fence needs a blank "
                        f"line before it, `{{.callout-kind}}` braces, and a matching close): {para[:300]!r} "
                        f"[source cells {_cells_with(raw, line.strip()) or _cells_with(raw, ':::')}]")
    found = callouts_in_ast(ast)
    authored = Counter(callout_fences_in_source("\n\n".join(src(c) for c in nb["cells"] if c["cell_type"] == "markdown")))
    parsed = Counter(k for k, *_ in found)
    if authored != parsed:
        problems.append(f"callout fences written {dict(authored)} but pandoc found callout Divs {dict(parsed)}")
    for kind, kv, titled, first in found:
        cells = [i for i in _cells_with(raw, f"callout-{kind}" if kind else "callout") if first[:40] in src(raw["cells"][i])]
        where = f"callout-{kind} starting {first!r} [source cells {cells}]"
        if kind not in CALLOUT_KINDS:
            problems.append(f"{where}: kind {kind or '(plain .callout)'!r} is not one of Quarto's {sorted(CALLOUT_KINDS)}")
        if "collapse" in kv and kv["collapse"] not in ("true", "false"):
            problems.append(f"{where}: collapse={kv['collapse']!r} (Quarto takes \"true\" or \"false\")")
        if not titled:
            problems.append(f"{where}: no title; put a `## Title` line first inside the callout"
                            + (" (a collapsed callout without one shows only the kind's name)" if "collapse" in kv else ""))
    assert not problems, f"{rel(nb_path)}:\n" + "\n".join(problems)


# ---------------------------------------------------------------- (d) Colab

def colab_url(nb_path):
    m = re.match(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?$", CFG["git_url"])
    assert m, f"git_url {CFG['git_url']!r} is not a GitHub repository URL"
    return f"https://colab.research.google.com/github/{m.group(1)}/blob/{CFG['branch']}/{nb_path.relative_to(ROOT).as_posix()}"


@nb_param
def test_colab_badge(nb_path, processed):
    if rel(nb_path) in NO_COLAB: return
    nb, want = load_nb(nb_path), colab_url(nb_path)
    badge = src(nb["cells"][1]) if len(nb["cells"]) > 1 else ""
    assert nb["cells"][1]["cell_type"] == "markdown" and "colab-badge.svg" in badge, \
        f"cell 1 (the second cell) must be the Colab badge: [![Open In Colab](...colab-badge.svg)]({want})"
    links = re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"'>]+", badge)
    assert links == [want], f"the Colab badge must point at {want}, it points at {links}"
    others = {l for c in nb["cells"] if c["cell_type"] == "markdown"
              for l in re.findall(r"https://colab\.research\.google\.com/github/[^)\s\"'>]+", src(c))} - {want}
    others = {l for l in others if l.rsplit("/", 1)[-1] == nb_path.name}
    assert not others, f"Colab links to this chapter on another repo/branch/path: {sorted(others)}"
    assert want in json.dumps(processed_nb(processed, nb_path)), "the badge did not survive nbdev's processing"


@nb_param
def test_colab_install_cell_hidden(nb_path, processed):
    if rel(nb_path) in NO_COLAB: return
    nb = load_nb(nb_path)
    cell = nb["cells"][2] if len(nb["cells"]) > 2 else {"cell_type": None, "source": ""}
    s = src(cell)
    assert cell["cell_type"] == "code" and s.splitlines()[:1] == ["#| hide"] and "google.colab" in s, \
        "cell 2 (the third cell) must be the `#| hide` Colab install cell from DESIGN.md"
    assert f"git+{CFG['git_url']}" in s, f"the Colab install cell must pip install git+{CFG['git_url']}"
    shown = [src(c)[:80] for c in processed_nb(processed, nb_path)["cells"]
             if c["cell_type"] == "code" and "google.colab" in src(c)]
    assert not shown, f"the Colab install code would show on the site: {shown}"


# ---------------------------------------------------------------- cross-links

@nb_param
def test_chapter_links(nb_path):
    "Links to other chapters (`[chapter 3](03_autograd.ipynb)`) name notebooks that exist (or are planned)."
    nb = load_nb(nb_path)
    bad = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "markdown": continue
        for target, anchor in re.findall(r"\]\(([^)\s#]+\.ipynb)(?:#([^)\s]*))?\)", src(c)):
            if re.match(r"\w+://", target): continue
            p = (nb_path.parent / target).resolve()
            if not p.exists() and not (p.parent == NBS and p.stem in PLANNED): bad.append((i, target))
            elif anchor and p.exists() and anchor not in heading_ids(p): bad.append((i, f"{target}#{anchor}"))
    assert not bad, f"{rel(nb_path)}: links to notebooks or sections that do not exist (cell, target): {bad}"


def heading_ids(nb_path):
    "The ids Quarto (pandoc's auto_identifiers) gives a notebook's markdown headings: lower case, punctuation dropped, spaces to '-'."
    ids = set()
    for c in load_nb(nb_path)["cells"]:
        if c["cell_type"] != "markdown": continue
        for h in re.findall(r"^#+\s+(.*)$", src(c), flags=re.M):
            words = re.sub(r"[^\w\s.-]", "", h.lower()).split()
            ids.add(re.sub(r"^[^a-z]+", "", "-".join(words)))
    return ids


# ---------------------------------------------------------------- figures

@nb_param
def test_figures_have_captions(nb_path):
    "Every cell that stores a plot gives Quarto a caption and a label (`#| fig-cap:` and `#| label: fig-...`) at its top."
    nb = load_nb(nb_path)
    bad = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code": continue
        # a matplotlib figure: a PNG, or an SVG drawn by plt (cl.draw's graph SVGs are diagrams, not figures)
        if not any("image/png" in o.get("data", {}) or ("image/svg+xml" in o.get("data", {}) and "plt" in src(c))
                   for o in c.get("outputs", [])): continue
        options = [l for l in src(c).splitlines() if l.startswith("#|")]
        if not (any(l.startswith("#| fig-cap:") for l in options) and any(re.match(r"#\| label: fig-", l) for l in options)):
            bad.append(i)
    assert not bad, f"{rel(nb_path)}: plotting cells without `#| label: fig-...` and `#| fig-cap:` (cells {bad})"


# ---------------------------------------------------------------- (f) make site without Quarto

def test_make_site_without_quarto(tmp_path):
    make = (ROOT / "Makefile").read_text()
    assert re.search(r"^site:.*\n(\t.*\n)*\t.*tools/build_site\.py", make, re.M), "make site must run tools/build_site.py"
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no quarto on PATH
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "build_site.py")], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert r.stdout.strip() == build_site.QUARTO_HINT and r.stdout.count("\n") == 1, (r.stdout, r.stderr)
    assert "https://quarto.org/docs/get-started/" in r.stdout
    assert not r.stderr.strip(), r.stderr
    # and through make itself (-o: don't rebuild the venv stamp; -s: don't echo the recipe)
    make_bin = shutil.which("make")
    if make_bin and (ROOT / ".venv" / "bin" / "python").exists():
        r = subprocess.run([make_bin, "-s", "-o", ".venv/.installed-stamp", "site"], cwd=ROOT, env=env,
                           capture_output=True, text=True, timeout=120)
        assert r.returncode != 0 and r.stdout.strip() == build_site.QUARTO_HINT, (r.stdout, r.stderr)


def _steps(wf): return [s for job in wf["jobs"].values() for s in job.get("steps", [])]


def _jobs_are_bounded(wf, name):
    "Every job has a timeout-minutes; the workflow has a concurrency group."
    assert wf.get("concurrency", {}).get("group"), f"{name}: no concurrency group"
    no_timeout = [j for j, job in wf["jobs"].items() if not isinstance(job.get("timeout-minutes"), int)]
    assert not no_timeout, f"{name}: jobs without timeout-minutes (GitHub's default is 6 hours): {no_timeout}"


def test_deploy_workflow():
    wf = yaml.safe_load((ROOT / ".github/workflows/deploy.yaml").read_text())
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on:` key as True
    # Publishes only after the Test workflow passed: triggered by its completion on the branch, and gated on success.
    test_name = yaml.safe_load((ROOT / ".github/workflows/test.yaml").read_text())["name"]
    assert "push" not in on, "deploy must wait for the tests (workflow_run of the Test workflow), not run on push"
    run = on["workflow_run"]
    assert run["workflows"] == [test_name] and run["types"] == ["completed"] and run["branches"] == [CFG["branch"]], run
    first = [j for j in wf["jobs"].values() if "needs" not in j]
    assert first and all("workflow_run.conclusion == 'success'" in j.get("if", "") for j in first), \
        "the first job must run only when the Test workflow succeeded"
    assert all("needs" in j for j in wf["jobs"].values() if j not in first)
    _jobs_are_bounded(wf, "deploy.yaml")
    assert wf["concurrency"].get("cancel-in-progress") is False, "never cancel a Pages deployment half-way"
    assert {"pages": "write", "id-token": "write"}.items() <= wf["permissions"].items()
    steps = _steps(wf)
    uses = [s.get("uses", "") for s in steps]
    assert any(u.startswith("actions/setup-python") for u in uses)
    assert [s["with"]["python-version"] for s in steps if s.get("uses", "").startswith("actions/setup-python")] == ["3.11"]
    assert "quarto-dev/quarto-actions/setup@v2" in uses
    quarto = next(s for s in steps if s.get("uses") == "quarto-dev/quarto-actions/setup@v2")
    version = quarto.get("with", {}).get("version", "")
    version = wf.get("env", {}).get(version[len("${{ env."):-len(" }}")], "") if version.startswith("${{ env.") else version
    assert re.fullmatch(r"\d+\.\d+\.\d+", str(version)), f"pin the Quarto version (a release like 1.7.32), not {version!r}"
    assert any(s.get("run", "").strip() == "make site" for s in steps)
    up = [s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact")]
    assert up and up[0]["with"]["path"] == "_site"
    assert any(u.startswith("actions/deploy-pages") for u in uses)


def test_test_workflow():
    wf = yaml.safe_load((ROOT / ".github/workflows/test.yaml").read_text())
    on = wf.get("on", wf.get(True))
    assert "push" in on and "pull_request" in on
    steps = _steps(wf)
    assert [s["with"]["python-version"] for s in steps if s.get("uses", "").startswith("actions/setup-python")] == ["3.11"]
    assert any(s.get("run", "").strip() == "make test" for s in steps)
    _jobs_are_bounded(wf, "test.yaml")
    ci = (ROOT / ".ci/run").read_text()
    assert [l for l in ci.splitlines() if l.strip() and not l.startswith("#")][-1].strip() == "make test", \
        ".ci/run must run exactly the README's `make test`"


# ---------------------------------------------------------------- the reference (nbdev's show_doc) as Quarto gets it

_sd_re = build_site._sd_re


def _show_doc_cells(nb):
    "[(cell index, name, markdown output)] of the show_doc cells of a processed notebook."
    out = []
    for i, c in enumerate(nb["cells"]):
        m = _sd_re.match(src(c)) if c["cell_type"] == "code" else None
        if not m: continue
        md = "".join(src({"source": o["data"]["text/markdown"]}) for o in c.get("outputs", [])
                     if "text/markdown" in o.get("data", {}))
        out.append((i, m.group(1), md))
    return out


@nb_param
def test_exported_source_is_folded(nb_path, processed):
    "Every `#| export` cell's code is folded under \"Exported source\" (`code-fold: true`; nbdev writes `show`, open)."
    nb = processed_nb(processed, nb_path)
    bad = []
    for i, c in enumerate(nb["cells"]):
        if c["cell_type"] != "code" or build_site.EXPORTED not in src(c): continue
        opts = yaml.safe_load("\n".join(l.lstrip()[2:] for l in src(c).splitlines() if l.lstrip().startswith("#|")))
        if opts.get("code-fold") is not True: bad.append((i, opts.get("code-fold")))
    assert not bad, f"{rel(nb_path)}: exported source shown open (processed cell, code-fold): {bad}"


@nb_param
def test_reference_follows_its_code(nb_path, processed):
    "Each heading nbdev adds comes right after the exported cell that defines it, in the cell's order."
    nb = processed_nb(processed, nb_path)
    cells, bad = nb["cells"], []
    for i, c in enumerate(cells):
        if c["cell_type"] != "code" or build_site.EXPORTED not in src(c): continue
        order = list(build_site._defs(c))
        j, names = i + 1, []
        while j < len(cells) and cells[j].get("has_sd") and _sd_re.match(src(cells[j])):
            names.append(_sd_re.match(src(cells[j])).group(1)); j += 1
        if names != sorted(names, key=lambda n: order.index(n) if n in order else len(order)):
            bad.append((i, order, names))
    for i, name, _ in _show_doc_cells(nb):
        if not cells[i].get("has_sd"): continue
        k = i - 1
        while k >= 0 and cells[k].get("has_sd"): k -= 1
        if not any(name in build_site._defs(c) for c in cells if c["cell_type"] == "code" and build_site.EXPORTED in src(c)):
            continue  # defined otherwise (a decorator, a loop): nbdev's placement is kept
        if not (k >= 0 and build_site.EXPORTED in src(cells[k]) and name in build_site._defs(cells[k])):
            bad.append((i, name, "not right after the exported cell that defines it"))
    assert not bad, f"{rel(nb_path)}: reference headings out of order: {bad}"


@nb_param
def test_function_classes_show_forward_and_backward(nb_path, processed):
    "A `Function` subclass is documented by `forward(ctx, ...)` and `backward(ctx, ...)`, not `Mul(*args, **kwargs)`."
    nb = processed_nb(processed, nb_path)
    classes = build_site._function_classes(nb, load_nb(nb_path))
    bad = [(name, md[:200]) for _, name, md in _show_doc_cells(nb) if name in classes
           and not (re.search(r"def forward\((cls, )?ctx\b", md) and re.search(r"def backward\((cls, )?ctx\b", md)) or
           name in classes and "*args, **kwargs" in md]
    assert not bad, f"{rel(nb_path)}: Function classes without their forward/backward signatures: {bad}"


def _reference_text(md_by_key):
    "{key: [text pandoc leaves outside code]} for several markdown snippets, in one pandoc run."
    doc = "\n\n".join(f"::: {{#ref-{k}}}\n\n{md}\n\n:::" for k, md in enumerate(md_by_key.values()))
    ast, _ = pandoc_ast(doc)
    keys, out = list(md_by_key), {}
    for el in ast["blocks"]:
        if el["t"] != "Div": continue
        ident = el["c"][0][0]
        if not ident.startswith("ref-"): continue
        texts = []
        def visit(x):
            if x["t"] == "Str": texts.append(x["c"])
        def walk(x):  # like _walk, but never into code
            if isinstance(x, list):
                for i in x: walk(i)
            elif isinstance(x, dict) and "t" in x and x["t"] not in ("Code", "CodeBlock", "Math", "RawInline", "RawBlock"):
                visit(x); walk(x.get("c"))
        walk(el["c"][1])
        out[keys[int(ident[4:])]] = texts
    return out


@nb_param
def test_no_stray_markup_in_reference(nb_path, processed):
    """Docstrings render as markdown (nbdev puts them in `*...*`): a `*` in a docstring (`a * b`, `*args`) breaks
    the emphasis and shows literally. Write maths and code in backticks. Checked on pandoc's reading of the
    reference text: no `*` survives outside code."""
    nb = processed_nb(processed, nb_path)
    refs = {name: md.split("```", 2)[-1] if md.count("```") >= 2 else md for _, name, md in _show_doc_cells(nb)}
    refs = {k: v for k, v in refs.items() if v.strip()}
    if not refs: return
    bad = {k: "".join(v) for k, v in _reference_text(refs).items() if any("*" in s for s in v)}
    assert not bad, (f"{rel(nb_path)}: docstrings whose `*` shows literally on the site (write the maths/code in "
                     f"backticks): {sorted(bad)}\n" + "\n".join(f"  {k}: {refs[k].strip()[:120]!r}" for k in sorted(bad)))


@nb_param
def test_colab_badge_is_inline(nb_path, processed):
    "Quarto makes a paragraph holding only an image a captioned figure; the badge reaches Quarto as an inline HTML link."
    if rel(nb_path) in NO_COLAB: return
    nb = processed_nb(processed, nb_path)
    badge = [src(c) for c in nb["cells"] if c["cell_type"] == "markdown" and build_site.COLAB_SVG in src(c)]
    assert badge, "no Colab badge reached Quarto"
    for b in badge:
        assert not re.search(r"!\[[^\]]*\]\(" + re.escape(build_site.COLAB_SVG), b), f"badge still a markdown image: {b}"
        assert re.fullmatch(r'<a href="https://colab\.research\.google\.com/github/[^"]+" class="colab-badge"><img [^>]+></a>', b.strip()), b


def test_nbdev_import_warnings():
    """nbdev's docs processing runs every cell that imports something; a cell that also computes (an
    expression or an assignment) makes it warn "Found cells containing imports and other code" (and run
    code it should not). Keep imports in cells of their own; the Colab install cell says `#| eval: false`."""
    from nbdev.process import NBProcessor
    from nbdev.processors import _do_eval
    import warnings as w
    bad = []
    for p in NOTEBOOKS:
        for cell in NBProcessor(p).nb.cells:
            with w.catch_warnings(record=True) as caught:
                w.simplefilter("always")
                try: _do_eval(cell)
                except Exception: pass
            if any("imports and other code" in str(x.message) for x in caught):
                bad.append(f"{rel(p)} cell {cell.idx_}: {cell.source.splitlines()[0][:70]!r}")
    assert not bad, f"{len(bad)} cells mix imports with other code (split each):\n" + "\n".join(bad)


def test_outputs_and_code_wrap():
    "Long outputs wrap instead of being cut at the column's edge, and wrapped code lines keep a hanging indent."
    css = (ROOT / "styles.css").read_text(encoding="utf-8")
    rules = {sel.strip(): body for sels, body in re.findall(r"([^{}]+)\{([^{}]*)\}", re.sub(r"/\*.*?\*/", "", css, flags=re.S))
             for sel in sels.split(",")}
    for sel in (".cell-output pre", ".cell-output-stdout pre", ".cell-output-stderr pre", ".cell-output-error pre"):
        assert sel in rules and re.search(r"white-space:\s*pre-wrap", rules[sel]), f"styles.css: `{sel}` needs white-space: pre-wrap"
    line = "div.sourceCode pre code > span"
    assert line in rules and "text-indent" in rules[line] and "padding-left" in rules[line], \
        f"styles.css: `{line}` needs a hanging indent (padding-left + negative text-indent)"
    html = quarto_yml()["format"]["html"]
    assert html.get("code-overflow") == "wrap"
    inc = html.get("include-after-body")
    assert inc and (ROOT / inc).exists() and inc in build_site.ASSETS, \
        f"{inc} (the per-line hanging indent) must exist at the root and be copied by build_site (ASSETS)"


# ---------------------------------------------------------------- the home page's chapter table

import chapter_table  # noqa: E402


def test_home_page_lists_every_chapter():
    "nbs/index.ipynb's table under `## Chapters` is tools/chapter_table.py's: every chapter, in order, titled as it titles itself."
    have = chapter_table.current_rows(load_nb(NBS / "index.ipynb"))
    want = chapter_table.table()
    listed = [r for r in have if re.match(r"\|\s*\d+\s*\|", r)]
    missing = [r for r in want[2:] if r not in have]
    assert have == want, (f"the home page's chapter table lists {len(listed)} rows for {len(want) - 2} chapters; "
                          f"run `python tools/chapter_table.py` (or `make clean`). Rows missing or different: {missing[:5]}")


# ---------------------------------------------------------------- one setting names the repository

import sync_repo  # noqa: E402


def test_links_follow_git_url():
    "Every badge, install cell, site link and download is what tools/sync_repo.py writes from settings.ini."
    changed = sorted(rel(f) for f in sync_repo.plan(ROOT))
    assert not changed, ("these files name the repository otherwise than settings.ini's git_url/branch (or a Colab "
                         f"install cell lacks the notebooks extra): {changed}; run `python tools/sync_repo.py` (or `make clean`)")


def test_owner_spelled_only_through_git_url():
    "The owner appears only inside links derived from git_url (and in settings.ini itself): one place to change."
    owner, repo = sync_repo.repo_of(CFG["git_url"])
    derived = sorted({CFG["git_url"], CFG["doc_host"].rstrip("/") + CFG["doc_baseurl"], CFG["doc_host"].rstrip("/"),
                      f"colab.research.google.com/github/{owner}/{repo}/",
                      f"raw.githubusercontent.com/{owner}/{repo}/"}, key=len, reverse=True)
    bad = []
    for f in sync_repo.tracked_files(ROOT):
        if f.name == "settings.ini" and f.parent == ROOT: continue
        if f.name == "sync_repo.py": continue
        try: text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError): continue
        for d in derived: text = text.replace(d, "")
        for m in re.finditer(re.escape(owner), text, re.I):
            line = text[:m.start()].count("\n") + 1
            bad.append(f"{rel(f)}:{line}: {text[max(0, m.start() - 60):m.end() + 40]!r}")
    assert not bad, (f"the owner {owner!r} is written outside a link derived from settings.ini's git_url "
                     "(derive it, or let tools/sync_repo.py write it):\n" + "\n".join(bad[:20]))


def test_readme_links_the_site_and_colab():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    owner, repo = sync_repo.repo_of(CFG["git_url"])
    site = CFG["doc_host"].rstrip("/") + CFG["doc_baseurl"]
    assert f"<{site}>" in readme or f"]({site})" in readme or f"]({site}/)" in readme, f"the README must link the site {site}"
    colab = f"https://colab.research.google.com/github/{owner}/{repo}/blob/{CFG['branch']}/nbs/"
    links = re.findall(re.escape(colab) + r"([\w./-]+\.ipynb)", readme)
    assert links and all((NBS / l).exists() for l in links), f"the README must open a chapter in Colab ({colab}...)"


# ---------------------------------------------------------------- summary for humans

if __name__ == "__main__":
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        dest = Path(d) / "_proc"
        errors = build_site.process(dest, strict=False)
        total = Counter()
        listed = dict(sidebar_entries())
        for p in NOTEBOOKS:
            r = str(p.relative_to(NBS))
            if errors.get(p):
                print(f"{r:28} PROCESSING FAILED: {errors[p].splitlines()[0]}")
                continue
            found = callouts_in_ast(pandoc_ast(quarto_markdown(load_nb(dest / r)))[0])
            kinds = Counter(k for k, *_ in found)
            total += kinds
            coll = sum(1 for _, kv, *_ in found if kv.get("collapse") == "true")
            print(f"{r:28} {'sidebar' if r in listed else 'NOT IN SIDEBAR':14} {nb_title(load_nb(p))!r:45} "
                  f"callouts {dict(kinds)} (collapsed: {coll})")
        print(f"{len(NOTEBOOKS)} notebooks; callouts per kind: {dict(total)}")
