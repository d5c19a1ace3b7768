"""Sphinx configuration of the course's website, both editions (``make site``).

``scripts/build_site.py`` stages each edition's sources (the README as ``index.md``, the
notebooks as ``notebooks/NN-topic.ipynb``, the diagrams as ``figures/``) and runs Sphinx once per
edition with this folder as its configuration directory, naming the edition and a manifest of
both editions in the environment (``SITE_EDITION``, ``SITE_MANIFEST``). Nothing is executed: the
pages show the notebooks' stored outputs. Nothing is fetched: the theme, MathJax and the search
index are served with the pages.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
from pathlib import Path

from sphinx.util.fileutil import copy_asset

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads(Path(os.environ["SITE_MANIFEST"]).read_text(encoding="utf-8"))
EDITION = os.environ["SITE_EDITION"]  # "en" or "zh-CN"
THIS = MANIFEST["editions"][EDITION]
OTHER_NAME = next((name for name in MANIFEST["editions"] if name != EDITION), None)
OTHER = MANIFEST["editions"].get(OTHER_NAME) if OTHER_NAME else None
REPOSITORY = MANIFEST["repository"]  # owner/name on GitHub
BRANCH = MANIFEST["branch"]
REPOSITORY_ROOT = Path(MANIFEST["root"])  # the checkout the site is built from
ZH = EDITION == "zh-CN"

# The words of the pages, in the edition's language.
WORDS = {
    "en": {"binder": "Open in JupyterLab on Binder", "download": "Download the notebook (.ipynb)",
           "switch": "中文版", "switch_lang": "zh-CN", "show_solution": "Show the solution",
           "hide_solution": "Hide the solution", "show_code": "Show code cell source",
           "hide_code": "Hide code cell source", "bar": "This page elsewhere",
           "title": "Recurrent neural networks",
           "copyright": "the course's authors; code MIT, the data under their own licenses"},
    "zh-CN": {"binder": "在 Binder 上用 JupyterLab 打开", "download": "下载笔记本 (.ipynb)",
              "switch": "English", "switch_lang": "en", "show_solution": "显示参考答案",
              "hide_solution": "隐藏参考答案", "show_code": "显示代码",
              "hide_code": "隐藏代码", "bar": "本页的其他形式",
              "title": "循环神经网络",
              "copyright": "课程作者；代码采用 MIT 许可，数据沿用各自的许可"},
}[EDITION]

project = WORDS["title"]
copyright = WORDS["copyright"]
language = "zh_CN" if ZH else "en"
extensions = ["myst_nb"]
root_doc = "index"
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = [str(HERE / "_templates")]
html_static_path = [str(HERE / "_static")]
html_css_files = ["course.css"]
# A favicon of its own: without one, browsers ask for /favicon.ico and get a 404.
html_favicon = str(HERE / "_static" / "favicon.svg")

# The notebooks as stored: never executed here.
nb_execution_mode = "off"
nb_code_prompt_show = WORDS["show_code"]
nb_code_prompt_hide = WORDS["hide_code"]
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Chinese search: Sphinx splits Chinese text into words with jieba (without it, no Chinese word
# is indexed at all); the glossary's terms are added to jieba's dictionary so that 隐状态 or
# 记忆元 are found as words.
if ZH and MANIFEST.get("jieba_dict"):
    html_search_options = {"dict": MANIFEST["jieba_dict"]}

# MathJax 3, served with the pages: its files come from the pinned PyPI package
# sphinx-mathjax-offline (MathJax 3.2.2); only the parts tex-chtml.js loads are copied.
mathjax_path = "mathjax/tex-chtml.js"

html_theme = "sphinx_book_theme"
html_title = WORDS["title"]
html_copy_source = False  # the .ipynb is offered beside each page instead
html_show_sourcelink = False
html_use_index = False  # no API, no index entries: no empty index page
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": False,  # ours: the notebook itself, beside its page
    "use_fullscreen_button": True,
    "home_page_in_toc": True,
    "show_navbar_depth": 1,
    "navigation_with_keys": False,
    "show_toc_level": 2,
    # The header holds the course's links (Binder, download, the other edition); the search
    # field stays in the sidebar, where the theme puts it.
    "navbar_persistent": [],
    "navbar_start": ["navbar-logo"],
    "navbar_end": ["course-links.html"],
    "footer_content_items": ["copyright.html"],  # no author line ("Author name not set")
}
# The title is in the header: the sidebar keeps the search field and the course's pages.
html_sidebars = {"**": ["search-button-field.html", "sbt-sidebar-nav.html"]}
# default_mode: left empty, the theme logs "Got invalid theme mode" on every page.
html_context = {"course_words": WORDS, "default_mode": "auto"}


def _mathjax_source() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("sphinx-mathjax-offline is not installed (requirements.txt pins it)")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


# tex-chtml.js and what it loads on demand: TeX extensions (autoload), the CHTML fonts, the
# menu and the accessibility components (sre: the speech rule engine the menu's options load).
MATHJAX_PARTS = ["tex-chtml.js", "input", "output/chtml", "ui", "a11y", "sre", "adaptors"]


def copy_mathjax(app, exception) -> None:
    if exception is not None:
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in MATHJAX_PARTS:
        if (source / part).is_dir():
            copy_asset(str(source / part), str(target / part))
        else:
            (target / part).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source / part, target / part)


def copy_notebooks(app, exception) -> None:
    """Each notebook beside its page, as the page's download link names it."""
    if exception is not None:
        return
    sources = Path(app.outdir) / "_sources"  # left empty: html_copy_source is off
    if sources.is_dir() and not any(sources.iterdir()):
        sources.rmdir()
    for docname, repo_path in THIS["docs"].items():
        if repo_path and repo_path.endswith(".ipynb"):
            shutil.copyfile(Path(app.srcdir) / f"{docname}.ipynb",
                            Path(app.outdir) / f"{docname}.ipynb")


# --- links -------------------------------------------------------------------------------------
# Each staged document knows where it lives in the repository (THIS["docs"]: docname -> path),
# so a link is resolved as the repository sees it, then pointed at what the site has: a page of
# this edition (a relative link Sphinx resolves), a page of the other edition (a plain URL), a
# diagram (staged under figures/), or anything else in the repository (its page on GitHub).

# A markdown link or image, or an HTML src/href attribute.
LINK = re.compile(r"(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]\((?P<target>[^)\s]+)\)"
                  r"|(?P<attr>\b(?:src|href)=[\"'])(?P<attr_target>[^\"']+)")
REMOTE_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?:https?:)?//[^)\s]+\)")
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


def _by_repo_path(edition: dict | None) -> dict[str, str]:
    return {path: doc for doc, path in (edition or {}).get("docs", {}).items() if path}


def _relative(target: str, start_doc: str) -> str:
    return posixpath.relpath(target, posixpath.dirname(start_doc) or ".")


def map_target(target: str, docname: str, html: bool = False) -> str | None:
    """Where a relative link of ``docname`` should point on the site (None: leave it)."""
    if SCHEME.match(target) or target.startswith(("#", "/")):
        return None
    path, _, anchor = target.partition("#")
    anchor = f"#{anchor}" if anchor else ""
    repo_path = THIS["docs"].get(docname)
    if not repo_path or not path:
        return None
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(repo_path), path))
    here, there = _by_repo_path(THIS), _by_repo_path(OTHER)
    if resolved in here:
        suffix = ".html" if html else Path(resolved).suffix
        return _relative(here[resolved], docname) + suffix + anchor
    if resolved in there:  # the other edition's page: a URL, outside this Sphinx project
        prefix = "zh-CN/" if OTHER_NAME == "zh-CN" else "../"
        return _relative(prefix + there[resolved], docname) + ".html" + anchor
    if resolved.startswith("notebooks/figures/"):
        return _relative("figures/" + resolved.removeprefix("notebooks/figures/"), docname)
    if not (REPOSITORY_ROOT / resolved).exists():
        return None  # left as it is: Sphinx says the link is broken, and the build fails
    kind = "tree" if (REPOSITORY_ROOT / resolved).is_dir() else "blob"
    return f"https://github.com/{REPOSITORY}/{kind}/{BRANCH}/{resolved}{anchor}"


def rewrite_markdown(text: str, docname: str) -> str:
    """``text`` with its relative links pointed at the site (one pass: a link made here is never
    rewritten again)."""
    def link(m: re.Match) -> str:
        if m["attr"]:  # src="..." or href="..." in HTML
            new = map_target(m["attr_target"], docname, html=True)
            return m["attr"] + (new if new is not None else m["attr_target"])
        new = map_target(m["target"], docname)
        if new is None:
            return m.group(0)
        if new.endswith(".html") or ".html#" in new:  # the other edition: raw HTML, not a ref
            return f'<a href="{new}">{m["text"]}</a>'
        return f"{m['bang']}[{m['text']}]({new})"

    # A remote image (the README's Binder badge) would be a request off the machine: its words.
    text = REMOTE_IMAGE.sub(lambda m: m["alt"], text)
    text = LINK.sub(link, text)
    # The README's placeholder, in its GitHub and Binder URLs: this repository.
    return re.sub(r"(?<=github\.com/)OWNER/rnn-course|(?<=/gh/)OWNER/rnn-course", REPOSITORY, text)


def map_cell(cell: dict) -> None:
    """The course's cell metadata as myst-nb's tags: a solution, or a cell whose source starts
    hidden in JupyterLab, starts collapsed on its page."""
    metadata = cell.setdefault("metadata", {})
    tags = metadata.setdefault("tags", [])
    hidden = metadata.get("jupyter", {})
    if "solution" in tags:
        metadata.setdefault("mystnb", {}).update(code_prompt_show=WORDS["show_solution"],
                                                 code_prompt_hide=WORDS["hide_solution"])
    if ("solution" in tags or hidden.get("source_hidden")) and "hide-input" not in tags:
        tags.append("hide-input")
    if hidden.get("outputs_hidden") and "hide-output" not in tags:
        tags.append("hide-output")


def source_read(app, docname: str, source: list[str]) -> None:
    path = THIS["docs"].get(docname)
    if path is None:
        return
    if app.env.doc2path(docname).suffix == ".ipynb":
        nb = json.loads(source[0])
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = rewrite_markdown(text, docname)
            elif cell["cell_type"] == "code":
                map_cell(cell)
        source[0] = json.dumps(nb, ensure_ascii=False)
    else:
        source[0] = rewrite_markdown(source[0], docname)


def page_context(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Per page: the Binder and download links of a notebook, and the language switch."""
    repo_path = THIS["docs"].get(pagename)
    root = "../" * pagename.count("/")
    if repo_path and repo_path.endswith(".ipynb"):
        context["course_binder"] = (f"https://mybinder.org/v2/gh/{REPOSITORY}/{BRANCH}"
                                    f"?urlpath=lab/tree/{repo_path}")
        context["course_download"] = posixpath.basename(pagename) + ".ipynb"
    if OTHER is not None:
        # The same page in the other edition when it has one, else its home page.
        target = pagename if pagename in OTHER["docs"] else "index"
        prefix = "zh-CN/" if OTHER_NAME == "zh-CN" else "../"
        context["course_switch"] = root + prefix + target + ".html"


def chinese_search_language():
    """Sphinx 9.0.4's Chinese search ships the English stemmer but names it ChineseStemmer, so
    the search page fails ("ChineseStemmer is not defined"; sphinx-doc/sphinx#14229, fixed by
    sphinx-doc/sphinx#14416 after 9.0.4): name the stemmer it ships."""
    from sphinx.search.zh import SearchChinese

    class Chinese(SearchChinese):
        language_name = "English"  # the JS class of english-stemmer.js: EnglishStemmer

    return Chinese


def setup(app):
    if ZH:
        app.add_search_language(chinese_search_language())
    app.connect("source-read", source_read)
    app.connect("html-page-context", page_context)
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", copy_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
