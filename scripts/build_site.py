"""Build the course's website (``make site``): both editions, from the notebooks as stored.

    python scripts/build_site.py [--out build/site] [--work build/site-src]

The English edition goes to ``build/site/``, the Chinese one (when ``notebooks/zh-CN/`` has
notebooks) to ``build/site/zh-CN/``. Each is a Sphinx project (configuration in ``site/``)
staged under ``--work``: the README as its home page, the notebooks, the diagrams. Nothing is
executed (the pages show the stored outputs of the learner-mode run) and nothing is fetched:
the theme, MathJax and the search index come with the pinned packages. A warning is an error.

Publishing: ``.github/workflows/pages.yml`` runs ``make site`` and publishes ``build/site/`` as
GitHub Pages (CONTRIBUTING.md, "Publishing the website").
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "site"
NOTEBOOK = "[0-9][0-9]-*.ipynb"
# Where the site's links point on GitHub (Binder, files that are not pages). GitHub's Actions set
# GITHUB_REPOSITORY and GITHUB_REF_NAME; elsewhere the README's placeholder stands.
REPOSITORY = os.environ.get("GITHUB_REPOSITORY") or "OWNER/rnn-course"
BRANCH = os.environ.get("GITHUB_REF_NAME") or "main"


def notebook_title(path: Path) -> str:
    """The first heading of a notebook's first markdown cell (its page title)."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        if cell["cell_type"] == "markdown":
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            match = re.search(r"^#+\s+(.+)$", text, re.MULTILINE)
            if match:
                return match[1].strip()
    return path.stem


def toctree(docs: list[str], caption: str) -> str:
    lines = "\n".join(docs)
    return f"\n\n```{{toctree}}\n:hidden:\n:maxdepth: 1\n:caption: {caption}\n\n{lines}\n```\n"


def stage(edition: str, work: Path) -> dict | None:
    """Copy one edition's sources to ``work/edition``; its manifest entry (None: no notebooks)."""
    folder = ROOT / "notebooks" if edition == "en" else ROOT / "notebooks" / "zh-CN"
    notebooks = sorted(folder.glob(NOTEBOOK))
    if not notebooks:
        return None
    src = work / edition
    (src / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "notebooks" / "figures", src / "figures")
    docs: dict[str, str] = {}
    for path in notebooks:
        shutil.copyfile(path, src / "notebooks" / path.name)
        docs[f"notebooks/{path.stem}"] = path.relative_to(ROOT).as_posix()
    readme = ROOT / ("README.md" if edition == "en" else "README.zh-CN.md")
    home = readme.read_text(encoding="utf-8")
    docs["index"] = readme.name
    caption = "Notebooks" if edition == "en" else "笔记本"
    home += toctree([f"notebooks/{p.stem}" for p in notebooks], caption)
    (src / "index.md").write_text(home, encoding="utf-8")
    return {"src": str(src), "docs": docs}


def jieba_dictionary(work: Path) -> str:
    """The glossary's Chinese terms as a jieba user dictionary, so that search finds them."""
    glossary = ROOT / "notebooks" / "zh-CN" / "glossary.toml"
    terms = {t["zh"] for t in tomllib.loads(glossary.read_text(encoding="utf-8"))["term"]}
    words = sorted(t for t in terms if t and re.fullmatch(r"[\u4e00-\u9fff]+", t))
    path = work / "jieba-glossary.txt"
    path.write_text("".join(f"{w} 1000 n\n" for w in words), encoding="utf-8")
    return str(path)


def sphinx(edition: str, manifest_path: Path, src: Path, out: Path, doctrees: Path) -> tuple:
    env = dict(os.environ, SITE_EDITION=edition, SITE_MANIFEST=str(manifest_path))
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-W", "--keep-going", "-E",
               "-c", str(CONF), "-d", str(doctrees), str(src), str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    return edition, done.returncode, done.stdout + done.stderr


def build(out: Path, work: Path) -> list[str]:
    """Build both editions into ``out``; returns the editions built."""
    for path in (out, work):
        if path.exists():
            shutil.rmtree(path)
    work.mkdir(parents=True)
    editions = {name: entry for name in ("en", "zh-CN") if (entry := stage(name, work))}
    outs = {"en": out, "zh-CN": out / "zh-CN"}
    for name, entry in editions.items():
        entry["out"] = str(outs[name])
    manifest = {"root": str(ROOT), "repository": REPOSITORY, "branch": BRANCH, "editions": editions,
                "jieba_dict": jieba_dictionary(work)}
    manifest_path = work / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    # The two editions build side by side (one process each: 2 cores).
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(
            lambda name: sphinx(name, manifest_path, Path(editions[name]["src"]), outs[name],
                                work / f"doctrees-{name}"), editions))
    failed = [(name, log) for name, code, log in results if code != 0]
    for name, log in failed:
        print(f"--- the {name} edition failed (Sphinx, warnings are errors):\n{log}",
              file=sys.stderr)
    if failed:
        raise SystemExit(1)
    (out / ".nojekyll").touch()  # GitHub Pages: serve _static/ and friends as they are
    return list(editions)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "site-src")
    args = parser.parse_args()
    start = time.monotonic()
    editions = build(args.out.resolve(), args.work.resolve())
    print(f"site: {', '.join(editions)} built into {args.out} in "
          f"{time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
