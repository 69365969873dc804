"""One setting names the repository: settings.ini's `git_url`. This rewrites every link derived from it.

    python tools/sync_repo.py            # rewrite, in place, every file that names the repository
    python tools/sync_repo.py --check    # exit 1, listing the files, if any would change

A fork (say github.com/alice/course_lib) changes one line, `git_url = https://github.com/alice/course_lib`
in settings.ini (and `branch` if its default branch is not main), then runs this (or `make clean`, which
runs it). From `git_url` and `branch` it writes:

* settings.ini's `user`, `author_email` (GitHub's noreply address) and `doc_host` (GitHub Pages:
  https://<owner>.github.io; a custom domain, anything not on github.io, is left alone);
* every link to the repository, in every file git tracks (the notebooks' Colab badges and Colab install
  cells, downloads of the repository's files from raw.githubusercontent.com, _quarto.yml's site and repo
  links, the README's links): https://github.com/<owner>/<repo>, colab.research.google.com/github/...,
  raw.githubusercontent.com/<owner>/<repo>/<branch>/..., https://<owner>.github.io/<repo>;
* the Colab install cell's requirement `course_lib[notebooks] @ git+<git_url>` (the `notebooks` extra
  brings what the chapters import besides torch: fastprogress, matplotlib, scikit-learn), and its
  `#| eval: false` (nbdev's docs processing then neither runs it nor warns about it).

Links are recognised by their shape with any owner and the repository named `repo` or `lib_name` in
settings.ini (`--from OLD_OWNER/OLD_REPO` for a fork that also renamed the repository).
tests/test_site.py fails when a file would change, or when the owner is spelled anywhere else.
"""
import configparser, json, re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEXT_SUFFIXES = {".py", ".ipynb", ".md", ".yml", ".yaml", ".ini", ".cfg", ".toml", ".txt", ".css", ".scss",
                 ".sh", ".json", ".qmd", ""}
OWNER = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})"


def settings(root=ROOT):
    ini = configparser.ConfigParser(delimiters=["="], interpolation=None)
    ini.read(root / "settings.ini", encoding="utf-8")
    return ini["DEFAULT"]


def repo_of(git_url):
    "(owner, repo) of a GitHub URL."
    m = re.fullmatch(r"https://github\.com/(" + OWNER + r")/([\w.-]+?)(?:\.git)?/?", git_url.strip())
    if not m: raise SystemExit(f"settings.ini's git_url {git_url!r} is not https://github.com/<owner>/<repo>")
    return m.group(1), m.group(2)


def tracked_files(root=ROOT):
    "Text files git tracks, plus untracked files it does not ignore (a new chapter before its first commit)."
    try:
        out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=root,
                             capture_output=True, check=True).stdout.decode().split("\0")
        files = [root / f for f in out if f]
    except (OSError, subprocess.CalledProcessError):  # no git (an sdist): walk the tree
        files = [p for p in root.rglob("*") if p.is_file() and not any(
            part.startswith(".") or part in ("_proc", "_site", "build", "dist") for part in p.relative_to(root).parts)]
    me = Path(__file__).resolve().name  # this file's docstring shows a fork's git_url as an example
    return sorted(f for f in files if f.is_file() and f.suffix in TEXT_SUFFIXES and ".egg-info" not in str(f)
                  and not (f.name == me and f.parent.name == "tools"))


def rewriters(cfg, old=None):
    "[(compiled regex, replacement[, only for this suffix])] turning any spelling of the repository's links into settings.ini's."
    owner, repo = repo_of(cfg["git_url"])
    branch = cfg.get("branch", "main")
    names = {repo, cfg["repo"], cfg["lib_name"]}
    old_owner = OWNER
    if old:
        old_owner, old_repo = old.split("/")
        old_owner = re.escape(old_owner)
        names.add(old_repo)
    R = "(?:" + "|".join(sorted(map(re.escape, names), key=len, reverse=True)) + ")"
    end = r"(?![\w.-])"  # the repository name ends there (not course_lib_extra, not course_lib.io)
    site = cfg["doc_host"].rstrip("/") + cfg.get("doc_baseurl", "")
    return [
        (re.compile(rf"https://colab\.research\.google\.com/github/{old_owner}/{R}/blob/[\w.-]+/"),
         f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/"),
        (re.compile(rf"https://raw\.githubusercontent\.com/{old_owner}/{R}/[\w.-]+/"),
         f"https://raw.githubusercontent.com/{owner}/{repo}/{branch}/"),
        # notebooks only (the Colab install cells): a bare requirement gains the `notebooks` extra
        (re.compile(rf"(?:course_lib|{re.escape(cfg['lib_name'])})(\[[\w,]+\])? @ git\+https://github\.com/{old_owner}/{R}(?:\.git)?{end}"),
         lambda m: f"{cfg['lib_name']}{m.group(1) or '[notebooks]'} @ git+{cfg['git_url']}", ".ipynb"),
        (re.compile(rf"https://github\.com/{old_owner}/{R}(?:\.git)?{end}"), cfg["git_url"]),
        (re.compile(rf"https://{old_owner}\.github\.io/{R}{end}"), site),
        (re.compile(rf"https://{old_owner}\.github\.io(?![\w./-])"), cfg["doc_host"].rstrip("/")),
    ]


def sync_settings(text, cfg):
    "settings.ini with user, author_email and a github.io doc_host following git_url's owner."
    owner, _ = repo_of(cfg["git_url"])
    def put(key, value, text):
        return re.sub(rf"(?m)^({key}\s*=\s*).*$", lambda m: m.group(1) + value, text, count=1)
    text = put("user", owner, text)
    if re.search(r"(?m)^author_email\s*=\s*\S+@users\.noreply\.github\.com\s*$", text):
        text = put("author_email", f"{owner}@users.noreply.github.com", text)
    if re.search(r"(?m)^doc_host\s*=\s*https://[\w-]+\.github\.io/?\s*$", text):
        text = put("doc_host", f"https://{owner}.github.io", text)
    return text


def rewrite(text, subs, suffix=""):
    for rx, new, *only in subs:
        if not only or suffix in only: text = rx.sub(new, text)
    return text


def install_cell_options(text):
    """A notebook's Colab install cell (`#| hide`, `if "google.colab" in sys.modules:`) also says `#| eval: false`:
    nbdev's docs processing runs every cell that imports something, and warns about this one ("Found cells
    containing imports and other code"); Jupyter, Colab and nbval ignore the option."""
    try: nb = json.loads(text)
    except ValueError: return text
    changed = False
    for c in nb.get("cells", []):
        s = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        lines = s.split("\n")
        if c.get("cell_type") == "code" and lines[:1] == ["#| hide"] and 'if "google.colab" in sys.modules' in s \
                and "#| eval: false" not in lines:
            c["source"] = "\n".join(lines[:1] + ["#| eval: false"] + lines[1:]).splitlines(keepends=True)
            changed = True
    return json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n" if changed else text


def plan(root=ROOT, old=None):
    "{path: new text} for every file this would change."
    changes = {}
    ini_path = root / "settings.ini"
    ini_text = ini_path.read_text(encoding="utf-8")
    new_ini = sync_settings(ini_text, settings(root))
    if new_ini != ini_text: changes[ini_path] = new_ini
    cfg = configparser.ConfigParser(delimiters=["="], interpolation=None)
    cfg.read_string(new_ini)
    subs = rewriters(cfg["DEFAULT"], old)
    for f in tracked_files(root):
        if f == ini_path: continue
        try: text = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError): continue
        new = rewrite(text, subs, f.suffix)
        if f.suffix == ".ipynb": new = install_cell_options(new)
        if new != text: changes[f] = new
    return changes


def main(argv):
    check = "--check" in argv
    old = argv[argv.index("--from") + 1] if "--from" in argv else None
    changes = plan(ROOT, old)
    for f, new in changes.items():
        print(("would rewrite " if check else "rewrote ") + str(f.relative_to(ROOT)))
        if not check: f.write_text(new, encoding="utf-8")
    if check and changes:
        print("run `python tools/sync_repo.py` (or `make clean`): these files name the repository otherwise "
              "than settings.ini's git_url")
        return 1
    return 0


if __name__ == "__main__": sys.exit(main(sys.argv[1:]))
