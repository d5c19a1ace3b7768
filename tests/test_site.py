"""The course's website (`make site`), both editions, read in a real (headless) Chromium.

The site is built once, as `make site` builds it (scripts/build_site.py: Sphinx with myst-nb,
the notebooks as stored, nothing executed), into a temporary folder, and served on localhost.
Then one browser, with the pages in one context, opens every page of both editions: each loads
with no failed request, no HTTP error and no console error; its maths is typeset by the MathJax
served with it; its diagrams and figures load; every request stays on this machine. Search finds
an English term on the English site and a Chinese term on the Chinese one.

The Chinese edition is whatever `notebooks/zh-CN/NN-topic.ipynb` exist (scripts/zh.py build):
each must have its page. Needs Debian's Chromium, as tests/test_browser.py (which see): without
one these tests skip and say why, unless RNNLIB_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from conftest import ROOT
from test_browser import CHROMIUM_FLAGS, chromium

# Every test here reads the one build and the one visit: one xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("site")

NOTEBOOK = "[0-9][0-9]-*.ipynb"
ENGLISH = sorted((ROOT / "notebooks").glob(NOTEBOOK))
CHINESE = sorted((ROOT / "notebooks" / "zh-CN").glob(NOTEBOOK))
EDITIONS = {"en": ("", ENGLISH), "zh-CN": ("zh-CN/", CHINESE)}
DIAGRAM = r"!\[[^\]]*\]\((?:\.\./)?(figures/[^)\s]+\.svg)\)"
BUILD_TIMEOUT_S = 300  # about 20 s on 2 idle cores; a busy machine takes longer
# Besides the test's own flags: no host name but the loopback resolves, so nothing the pages
# might ask for could leave the machine even if the site asked (the test records every request).
SITE_FLAGS = [*CHROMIUM_FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]

# What a page shows once loaded and typeset: MathJax's promise settles after the first typeset.
TYPESET = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  await document.fonts.ready;
  const images = Array.from(document.images);
  images.forEach(i => { i.loading = 'eager'; });
  await Promise.all(images.map(i => i.complete ? null :
      new Promise(done => { i.addEventListener('load', done); i.addEventListener('error', done); })));
  const maths = Array.from(document.querySelectorAll('.math'));
  return {
    maths: maths.length,
    typeset: maths.filter(m => m.querySelector('mjx-container')).length,
    tex_errors: Array.from(document.querySelectorAll('mjx-merror')).map(e => e.textContent),
    images: images.map(i => ({src: i.getAttribute('src'), width: i.naturalWidth})),
    solutions: Array.from(document.querySelectorAll('.tag_solution details')).map(d => ({
        open: d.open, summary: d.querySelector('summary').textContent.trim()})),
    solution_cells: document.querySelectorAll('.cell.tag_solution').length,
    binder: document.querySelector('a.course-binder')?.href ?? null,
    download: document.querySelector('a.course-download')?.href ?? null,
    switch: document.querySelector('a.course-switch')?.href ?? null,
    nav: Array.from(document.querySelectorAll('nav.bd-docs-nav a.reference.internal'))
        .map(a => a.href),
    next: document.querySelector('a.right-next')?.href ?? null,
    links: Array.from(document.querySelectorAll('article a[href]')).map(a => a.href),
  };
}"""


# Each notebook as the site was built from it (read when the build starts: the tests compare the
# pages with these bytes, even if a notebook is regenerated while they run).
BUILT_FROM: dict[Path, bytes] = {}


def built(notebook: Path) -> bytes:
    return BUILT_FROM[notebook]


def built_json(notebook: Path) -> dict:
    return json.loads(built(notebook).decode("utf-8"))


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once as `make site` builds it, into a temporary folder."""
    out = tmp_path_factory.mktemp("site")
    BUILT_FROM.update({p: p.read_bytes() for p in ENGLISH + CHINESE})
    built = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_site.py"), "--out", str(out / "site"),
         "--work", str(out / "src")],
        capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
        env={k: v for k, v in os.environ.items() if k not in ("GITHUB_REPOSITORY",
                                                             "GITHUB_REF_NAME")})
    assert built.returncode == 0, f"make site failed:\n{built.stdout}\n{built.stderr[-5000:]}"
    return out / "site"


class _Handler(http.server.SimpleHTTPRequestHandler):
    answered: list  # (path, status) of every request, the favicon's included

    def log_request(self, code="-", size="-"):
        self.answered.append((unquote(self.path), int(code) if str(code).isdigit() else code))

    def log_message(self, format, *args):
        pass


@pytest.fixture(scope="module")
def server(site):
    """The built site over HTTP on localhost; yields its URL and what it answered."""
    answered: list = []
    handler = functools.partial(type("Handler", (_Handler,), {"answered": answered}),
                                directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/", answered
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if path is None:
        message = ("no Chromium found for the website test: install Debian's `chromium` "
                   "(apt-get install chromium) or set RNNLIB_CHROMIUM to a Chromium binary")
        if os.environ.get("RNNLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=SITE_FLAGS)
        yield browser
        browser.close()


def pages_of(site: Path) -> list[str]:
    """Every HTML page of both editions, as paths from the site's root."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(site).parts))


class Visit:
    """One browser context over the whole site: what each page showed, and every request."""

    def __init__(self, browser, base: str):
        self.base = base
        self.context = browser.new_context()
        self.requests: list[str] = []
        self.problems: dict[str, list[str]] = {}
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.current = ""
        self.page.on("console", lambda m: m.type == "error" and self._problem(
            f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self._problem(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self._problem(
            f"failed request: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self._problem(
            f"HTTP {r.status}: {r.url}"))

    def _problem(self, text: str) -> None:
        self.problems.setdefault(self.current, []).append(text)

    def open(self, path: str) -> dict:
        self.current = path
        self.page.goto(self.base + path, wait_until="load")
        shown = self.page.evaluate(TYPESET)
        self.page.wait_for_load_state("networkidle")  # nothing left in flight to be cut off
        return shown

    def search(self, edition_prefix: str, term: str) -> list[str]:
        """The pages the edition's search lists for ``term``."""
        self.current = f"{edition_prefix}search.html?q={term}"
        self.page.goto(self.base + self.current, wait_until="load")
        self.page.wait_for_selector("#search-results .search-summary", timeout=30_000)
        self.page.wait_for_function(
            "() => !document.querySelector('#search-progress')?.textContent", timeout=30_000)
        hits = self.page.eval_on_selector_all("#search-results ul.search li a",
                                              "els => els.map(a => a.href)")
        self.page.wait_for_load_state("networkidle")
        return hits


@pytest.fixture(scope="module")
def visit(site, server, browser):
    """Every page of both editions opened once, in order, in one browser context."""
    base, _ = server
    visit = Visit(browser, base)
    start = time.monotonic()
    visit.shown = {path: visit.open(path) for path in pages_of(site)}
    visit.seconds = time.monotonic() - start
    yield visit
    visit.context.close()


def notebook_pages(edition: str) -> dict[str, Path]:
    prefix, notebooks = EDITIONS[edition]
    return {f"{prefix}notebooks/{p.stem}.html": p for p in notebooks}


def local_file(site: Path, base: str, url: str) -> Path:
    assert url.startswith(base), f"{url} is not on the site"
    return site / unquote(urlparse(url).path).lstrip("/")


def test_every_notebook_has_its_page_in_each_edition(site):
    for edition in EDITIONS:
        missing = [p for p in notebook_pages(edition) if not (site / p).is_file()]
        assert not missing, f"{edition}: no page for {missing}"
    assert (site / "index.html").is_file()
    if CHINESE:
        assert (site / "zh-CN" / "index.html").is_file(), "the Chinese edition has no home page"
        assert 'lang="zh-CN"' in (site / "zh-CN" / "index.html").read_text(encoding="utf-8")


def test_every_page_loads_with_no_failed_request_and_no_console_error(visit, server):
    assert len(visit.shown) >= len(ENGLISH) + len(CHINESE) + 1
    assert not visit.problems, json.dumps(visit.problems, indent=1, ensure_ascii=False)
    _, answered = server
    errors = [(path, code) for path, code in answered if not isinstance(code, int) or code >= 400]
    assert not errors, f"the site's server answered errors (the favicon's included): {errors}"


def test_no_request_leaves_the_machine(visit, server):
    base, _ = server
    assert visit.requests, "the browser recorded no request at all"
    away = sorted({url for url in visit.requests
                   if not url.startswith((base, "data:", "blob:", "about:"))})
    assert not away, f"requests that leave the machine: {away}"


def test_maths_is_typeset_by_the_mathjax_served_with_the_site(visit, server):
    base, _ = server
    for path, shown in visit.shown.items():
        assert shown["typeset"] == shown["maths"], \
            f"{path}: MathJax typeset {shown['typeset']} of {shown['maths']} formulas"
        assert not shown["tex_errors"], f"{path}: TeX errors {shown['tex_errors']}"
    for edition in EDITIONS:
        for path in notebook_pages(edition):
            if "02-rnn" in path:  # the RNN's equations, by hand
                assert visit.shown[path]["maths"] > 50, (path, visit.shown[path]["maths"])
    assert any(url.startswith(base) and "/_static/mathjax/" in url for url in visit.requests)


def test_diagrams_and_figures_load(visit):
    for path, shown in visit.shown.items():
        broken = [i["src"] for i in shown["images"] if not i["width"]]
        assert not broken, f"{path}: images that did not load: {broken}"
    for edition in EDITIONS:
        for path, notebook in notebook_pages(edition).items():
            diagrams = set(re.findall(DIAGRAM, built(notebook).decode("utf-8")))
            shown = {Path(i["src"]).name for i in visit.shown[path]["images"]}
            missing = {Path(d).name for d in diagrams} - shown
            assert not missing, f"{path}: diagrams not shown: {missing}"
            figures = sum(1 for cell in built_json(notebook)["cells"]
                          for output in cell.get("outputs", [])
                          if "image/png" in output.get("data", {}))
            pngs = sum(1 for i in visit.shown[path]["images"] if i["src"].endswith(".png"))
            assert pngs >= figures, f"{path}: {figures} stored figures, {pngs} shown"


def test_solutions_start_collapsed(visit):
    for edition in EDITIONS:
        for path, notebook in notebook_pages(edition).items():
            cells = built_json(notebook)["cells"]
            solutions = sum("solution" in c["metadata"].get("tags", []) for c in cells)
            shown = visit.shown[path]
            assert shown["solution_cells"] == solutions, (path, shown["solution_cells"], solutions)
            collapsed = [d for d in shown["solutions"] if not d["open"]]
            assert len(collapsed) == solutions, f"{path}: solutions shown open: {shown['solutions']}"


def test_each_notebook_page_links_binder_its_notebook_and_the_other_edition(visit, site, server):
    base, _ = server
    for edition in EDITIONS:
        other_prefix, other_notebooks = EDITIONS["zh-CN" if edition == "en" else "en"]
        for path, notebook in notebook_pages(edition).items():
            shown = visit.shown[path]
            repo_path = notebook.relative_to(ROOT).as_posix()
            assert re.fullmatch(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+"
                                rf"\?urlpath=lab/tree/{re.escape(repo_path)}", shown["binder"] or ""), \
                f"{path}: Binder link {shown['binder']}"
            download = local_file(site, base, shown["download"])
            assert download.read_bytes() == built(notebook), f"{path}: download {download}"
            if other_notebooks:
                switch = local_file(site, base, shown["switch"])
                twin = site / f"{other_prefix}notebooks/{notebook.stem}.html"
                assert switch == (twin if twin.exists() else site / f"{other_prefix}index.html"), \
                    f"{path}: the language switch points at {shown['switch']}"


def test_navigation_follows_the_course_order(visit, server):
    base, _ = server
    for prefix, notebooks in EDITIONS.values():
        if not notebooks:
            continue
        order = [f"{base}{prefix}notebooks/{p.stem}.html" for p in notebooks]
        home = visit.shown[f"{prefix}index.html"]
        assert [u for u in home["nav"] if "/notebooks/" in u] == order, home["nav"]
        for here, after in zip(order, order[1:], strict=False):
            assert visit.shown[here.removeprefix(base)]["next"] == after, (here, after)


def test_the_home_page_is_the_readme_with_links_to_pages(visit, site, server):
    base, _ = server
    links = visit.shown["index.html"]["links"]
    for notebook in ENGLISH:
        assert f"{base}notebooks/{notebook.stem}.html" in links, notebook.name
    stray = [u for u in links if u.startswith(base) and not (site / urlparse(u).path.lstrip("/")
                                                             .split("#")[0]).is_file()]
    assert not stray, f"links of the home page to nothing on the site: {stray}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", readme, re.MULTILINE)[1]
    assert title in (site / "index.html").read_text(encoding="utf-8")
    if CHINESE:
        zh_links = visit.shown["zh-CN/index.html"]["links"]
        for notebook in CHINESE:
            assert f"{base}zh-CN/notebooks/{notebook.stem}.html" in zh_links, notebook.name


def test_search_finds_an_english_term_on_the_english_site(visit, server):
    base, _ = server
    hits = visit.search("", "vanishing")
    assert f"{base}notebooks/03-gradients.html" in [h.split("#")[0] for h in hits], hits
    assert not visit.problems, json.dumps(visit.problems, indent=1, ensure_ascii=False)


def test_search_finds_a_chinese_term_on_the_chinese_site(visit, server):
    if not CHINESE:
        pytest.skip("no Chinese notebook yet (python scripts/zh.py build writes them)")
    base, _ = server
    hits = visit.search("zh-CN/", "循环神经网络")  # a glossary term: jieba splits it as one word
    pages = {h.split("#")[0] for h in hits}
    assert any(p.startswith(f"{base}zh-CN/notebooks/") for p in pages), hits
    assert not any(p.startswith(f"{base}notebooks/") for p in pages), hits
    assert not visit.problems, json.dumps(visit.problems, indent=1, ensure_ascii=False)
