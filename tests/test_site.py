"""The course's website (`make site`), both editions, read in a real (headless) Chromium.

The site is built once per test session, as `make site` builds it (scripts/build_site.py:
Sphinx with myst-nb, the notebooks as stored, nothing executed), into a temporary folder, and
served on localhost. Then one browser, with the pages in one context, opens every page of both
editions: each loads with no failed request, no HTTP error and no console error; its maths is
typeset by the MathJax served with it; its diagrams and figures load; every request stays on
this machine. Search finds an English term on the English site and a Chinese term on the
Chinese one. The tests below read what that one visit recorded.

Under pytest-xdist the build and the visit are still made once: the first worker to need them
makes them under a file lock and leaves them in the session's shared temporary folder, the
other reads them there (`--dist loadgroup` does not group tests with pytest 9.2 and
pytest-xdist 3.8.0: pytest-dev/pytest-xdist#1386, so an xdist_group mark would not be enough).

The Chinese edition is whatever `notebooks/zh-CN/NN-topic.ipynb` exist (scripts/zh.py build):
each must have its page. Needs Debian's Chromium, as tests/test_browser.py (which see): without
one the browser tests skip and say why, unless RNNLIB_REQUIRE_BROWSER=1 (CI).
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
from filelock import FileLock
from test_browser import CHROMIUM_FLAGS, require_chromium

pytestmark = pytest.mark.xdist_group("site")  # what it should be, once xdist groups again

NOTEBOOK = "[0-9][0-9]-*.ipynb"
ENGLISH = sorted((ROOT / "notebooks").glob(NOTEBOOK))
CHINESE = sorted((ROOT / "notebooks" / "zh-CN").glob(NOTEBOOK))
EDITIONS = {"en": ("", ENGLISH), "zh-CN": ("zh-CN/", CHINESE)}
DIAGRAM = r"!\[[^\]]*\]\((?:\.\./)?(figures/[^)\s]+\.svg)\)"
BUILD_TIMEOUT_S = 300  # about 10 s on 2 idle cores; a busy machine takes longer
# Besides the browser test's flags: no host name but the loopback resolves, so nothing could
# leave the machine even if a page asked (the test records every request and fails on those).
SITE_FLAGS = [*CHROMIUM_FLAGS, "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
ENGLISH_TERM = ("vanishing", "notebooks/03-gradients.html")
CHINESE_TERM = "循环神经网络"  # a glossary term: the site's jieba dictionary keeps it one word

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


def shared_folder(tmp_path_factory) -> Path:
    """This test session's temporary folder, the same for every xdist worker."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once per session as `make site` builds it, into a temporary folder.
    Beside it, ``src/``: the sources it was built from (the notebooks as copied at the start)."""
    folder = shared_folder(tmp_path_factory) / "course-site"
    with FileLock(f"{folder}.lock"):
        if not (folder / "built").exists():
            built = subprocess.run(
                [sys.executable, str(ROOT / "scripts" / "build_site.py"),
                 "--out", str(folder / "site"), "--work", str(folder / "src")],
                capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                env={k: v for k, v in os.environ.items()
                     if k not in ("GITHUB_REPOSITORY", "GITHUB_REF_NAME")})
            assert built.returncode == 0, \
                f"make site failed:\n{built.stdout}\n{built.stderr[-5000:]}"
            (folder / "built").write_text(built.stdout)
    return folder / "site"


def built_from(site: Path, notebook: Path) -> bytes:
    """The notebook as the site was built from it (the tests compare the pages with these
    bytes, even if a notebook is regenerated while they run)."""
    edition = "zh-CN" if notebook.parent.name == "zh-CN" else "en"
    return (site.parent / "src" / edition / "notebooks" / notebook.name).read_bytes()


class _Handler(http.server.SimpleHTTPRequestHandler):
    answered: list  # (path, status) of every request, the favicon's included

    def log_request(self, code="-", size="-"):
        self.answered.append((unquote(self.path), int(code) if str(code).isdigit() else code))

    def log_message(self, format, *args):
        pass


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
        self.in_flight: set = set()
        self.context.on("request", self._started)
        self.context.on("requestfinished", lambda r: self.in_flight.discard(r))
        self.context.on("requestfailed", lambda r: self.in_flight.discard(r))
        self.page = self.context.new_page()
        self.current = ""
        self.page.on("console", lambda m: m.type == "error" and self._problem(
            f"console error: {m.text}"))
        self.page.on("pageerror", lambda e: self._problem(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self._problem(
            f"failed request: {r.url} ({r.failure})"))
        self.page.on("response", lambda r: r.status >= 400 and self._problem(
            f"HTTP {r.status}: {r.url}"))

    def _started(self, request) -> None:
        self.requests.append(request.url)
        self.in_flight.add(request)

    def _problem(self, text: str) -> None:
        self.problems.setdefault(self.current, []).append(text)

    def settle(self, quiet_ms: int = 150, timeout_s: float = 30) -> None:
        """Wait until no request has been in flight for ``quiet_ms``: leaving a page earlier
        would cut a request off, and that would read as a failed one."""
        deadline, quiet_since = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            self.page.wait_for_timeout(25)  # lets Playwright deliver the events
            if self.in_flight:
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since >= quiet_ms / 1000:
                return
        self._problem(f"requests still in flight after {timeout_s} s: "
                      f"{[r.url for r in self.in_flight]}")

    def open(self, path: str) -> dict:
        self.current = path
        self.page.goto(self.base + path, wait_until="load")
        shown = self.page.evaluate(TYPESET)
        self.settle()
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
        self.settle()
        return hits


def read_in_chromium(site: Path) -> dict:
    """Serve the site on localhost and open each of its pages, then search both editions."""
    path = require_chromium("website test")
    from playwright.sync_api import sync_playwright

    answered: list = []
    handler = functools.partial(type("Handler", (_Handler,), {"answered": answered}),
                                directory=str(site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}/"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=path, args=SITE_FLAGS)
            try:
                visit = Visit(browser, base)
                start = time.monotonic()
                shown = {page: visit.open(page) for page in pages_of(site)}
                search = {"en": visit.search("", ENGLISH_TERM[0])}
                if CHINESE:
                    search["zh-CN"] = visit.search("zh-CN/", CHINESE_TERM)
                seconds = time.monotonic() - start
            finally:
                browser.close()
    finally:
        httpd.shutdown()
        httpd.server_close()
    return {"base": base, "shown": shown, "problems": visit.problems,
            "requests": visit.requests, "answered": answered, "search": search,
            "seconds": seconds}


@pytest.fixture(scope="module")
def visit(site) -> dict:
    """What every page of both editions showed, opened once per session in one context."""
    record = site.parent / "visit.json"
    with FileLock(f"{record}.lock"):
        if not record.exists():
            record.write_text(json.dumps(read_in_chromium(site), ensure_ascii=False))
    return json.loads(record.read_text())


def notebook_pages(edition: str) -> dict[str, Path]:
    prefix, notebooks = EDITIONS[edition]
    return {f"{prefix}notebooks/{p.stem}.html": p for p in notebooks}


def local_file(site: Path, base: str, url: str) -> Path:
    assert url and url.startswith(base), f"{url} is not on the site"
    return site / unquote(urlparse(url).path).lstrip("/")


def test_every_notebook_has_its_page_in_each_edition(site):
    for edition in EDITIONS:
        missing = [p for p in notebook_pages(edition) if not (site / p).is_file()]
        assert not missing, f"{edition}: no page for {missing}"
    assert (site / "index.html").is_file()
    if CHINESE:
        assert (site / "zh-CN" / "index.html").is_file(), "the Chinese edition has no home page"
        assert 'lang="zh-CN"' in (site / "zh-CN" / "index.html").read_text(encoding="utf-8")


def test_every_page_loads_with_no_failed_request_and_no_console_error(visit):
    assert len(visit["shown"]) >= len(ENGLISH) + len(CHINESE) + 1
    assert not visit["problems"], json.dumps(visit["problems"], indent=1, ensure_ascii=False)
    errors = [(path, code) for path, code in visit["answered"]
              if not isinstance(code, int) or code >= 400]
    assert not errors, f"the site's server answered errors (the favicon's included): {errors}"


def test_no_request_leaves_the_machine(visit):
    assert visit["requests"], "the browser recorded no request at all"
    away = sorted({url for url in visit["requests"]
                   if not url.startswith((visit["base"], "data:", "blob:", "about:"))})
    assert not away, f"requests that leave the machine: {away}"


def test_maths_is_typeset_by_the_mathjax_served_with_the_site(visit):
    for path, shown in visit["shown"].items():
        assert shown["typeset"] == shown["maths"], \
            f"{path}: MathJax typeset {shown['typeset']} of {shown['maths']} formulas"
        assert not shown["tex_errors"], f"{path}: TeX errors {shown['tex_errors']}"
    for edition in EDITIONS:
        for path in notebook_pages(edition):
            if "02-rnn" in path:  # the RNN's equations, by hand
                assert visit["shown"][path]["maths"] > 50, (path, visit["shown"][path]["maths"])
    assert any(url.startswith(visit["base"] + "_static/mathjax/") for url in visit["requests"])


def test_diagrams_and_figures_load(visit, site):
    for path, shown in visit["shown"].items():
        broken = [i["src"] for i in shown["images"] if not i["width"]]
        assert not broken, f"{path}: images that did not load: {broken}"
    for edition in EDITIONS:
        for path, notebook in notebook_pages(edition).items():
            source = built_from(site, notebook)
            diagrams = {Path(d).name for d in re.findall(DIAGRAM, source.decode("utf-8"))}
            shown = {Path(i["src"]).name for i in visit["shown"][path]["images"]}
            assert not diagrams - shown, f"{path}: diagrams not shown: {diagrams - shown}"
            figures = sum(1 for cell in json.loads(source)["cells"]
                          for output in cell.get("outputs", [])
                          if "image/png" in output.get("data", {}))
            pngs = sum(1 for i in visit["shown"][path]["images"] if i["src"].endswith(".png"))
            assert pngs >= figures, f"{path}: {figures} stored figures, {pngs} shown"


def test_solutions_start_collapsed(visit, site):
    for edition in EDITIONS:
        for path, notebook in notebook_pages(edition).items():
            cells = json.loads(built_from(site, notebook))["cells"]
            solutions = sum("solution" in c["metadata"].get("tags", []) for c in cells)
            shown = visit["shown"][path]
            assert shown["solution_cells"] == solutions, (path, shown["solution_cells"], solutions)
            collapsed = [d for d in shown["solutions"] if not d["open"]]
            assert len(collapsed) == solutions, f"{path}: solutions shown open: {shown['solutions']}"


def test_each_notebook_page_links_binder_its_notebook_and_the_other_edition(visit, site):
    base = visit["base"]
    for edition in EDITIONS:
        other_prefix, other_notebooks = EDITIONS["zh-CN" if edition == "en" else "en"]
        for path, notebook in notebook_pages(edition).items():
            shown = visit["shown"][path]
            repo_path = notebook.relative_to(ROOT).as_posix()
            assert re.fullmatch(r"https://mybinder\.org/v2/gh/[\w.-]+/[\w.-]+/[\w./-]+"
                                rf"\?urlpath=lab/tree/{re.escape(repo_path)}", shown["binder"] or ""), \
                f"{path}: Binder link {shown['binder']}"
            download = local_file(site, base, shown["download"])
            assert download.read_bytes() == built_from(site, notebook), f"{path}: {download}"
            if other_notebooks:
                switch = local_file(site, base, shown["switch"])
                twin = site / f"{other_prefix}notebooks/{notebook.stem}.html"
                assert switch == (twin if twin.exists() else site / f"{other_prefix}index.html"), \
                    f"{path}: the language switch points at {shown['switch']}"


def test_navigation_follows_the_course_order(visit):
    base = visit["base"]
    for prefix, notebooks in EDITIONS.values():
        if not notebooks:
            continue
        order = [f"{base}{prefix}notebooks/{p.stem}.html" for p in notebooks]
        home = visit["shown"][f"{prefix}index.html"]
        assert [u for u in home["nav"] if "/notebooks/" in u] == order, home["nav"]
        for here, after in zip(order, order[1:], strict=False):
            assert visit["shown"][here.removeprefix(base)]["next"] == after, (here, after)


def test_the_home_page_is_the_readme_with_links_to_pages(visit, site):
    base = visit["base"]
    links = visit["shown"]["index.html"]["links"]
    for notebook in ENGLISH:
        assert f"{base}notebooks/{notebook.stem}.html" in links, notebook.name
    stray = [u for u in links if u.startswith(base)
             and not (site / unquote(urlparse(u).path).lstrip("/")).is_file()]
    assert not stray, f"links of the home page to nothing on the site: {stray}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    title = re.search(r"^# (.+)$", readme, re.MULTILINE)[1]
    assert title in (site / "index.html").read_text(encoding="utf-8")
    if CHINESE:
        zh_links = visit["shown"]["zh-CN/index.html"]["links"]
        for notebook in CHINESE:
            assert f"{base}zh-CN/notebooks/{notebook.stem}.html" in zh_links, notebook.name


def test_search_finds_an_english_term_on_the_english_site(visit):
    term, page = ENGLISH_TERM
    hits = visit["search"]["en"]
    assert visit["base"] + page in [h.split("#")[0] for h in hits], (term, hits)


def test_search_finds_a_chinese_term_on_the_chinese_site(visit):
    if not CHINESE:
        pytest.skip("no Chinese notebook yet (python scripts/zh.py build writes them)")
    base, hits = visit["base"], visit["search"]["zh-CN"]
    pages = {h.split("#")[0] for h in hits}
    assert any(p.startswith(f"{base}zh-CN/notebooks/") for p in pages), (CHINESE_TERM, hits)
    assert not any(p.startswith(f"{base}notebooks/") for p in pages), hits
