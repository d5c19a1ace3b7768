"""Each notebook, opened in JupyterLab in a real (headless) Chromium, runs all its cells cleanly.

This is the learner's path: a JupyterLab server on localhost, the notebook opened from its URL,
"Run All Cells", then every output read back from the page. Smoke mode, one torch thread, and
self-checks as a learner has them (a failing one binds the course's reference and goes on), so
a student copy with every exercise left undone must run to the end too.

Needs a Chromium (Debian: `apt-get install chromium`; or set RNNLIB_CHROMIUM to its path).
Without one the tests skip and say why, unless RNNLIB_REQUIRE_BROWSER=1 (as in CI), where a
missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings

import pytest
from conftest import ROOT
from notebook_harness import notebooks, smoke_env

NOTEBOOKS = notebooks()
IDS = [p.stem for p in NOTEBOOKS]
# Chromium must not reach the network (the sandbox refuses it, and tests stay offline).
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-dev-shm-usage"]
RUN_TIMEOUT_MS = 300_000  # smoke runs take under a minute, even on a busy machine

CURRENT = "window.jupyterapp && window.jupyterapp.shell.currentWidget"
COMMAND = "window.jupyterapp.commands.execute"
KERNEL = "w?.sessionContext?.session?.kernel"  # null while JupyterLab is (re)connecting
KERNEL_READY = f"""() => {{ const w = {CURRENT};
  return !!(w?.context?.isReady && {KERNEL}?.connectionStatus === 'connected'); }}"""
CODE_CELLS = "Array.from(w.content.model.cells).filter(c => c.type === 'code')"
ALL_CLEARED = f"() => {{ const w = {CURRENT}; return {CODE_CELLS}.every(c => c.executionCount === null); }}"
# Done when the kernel is idle and every cell ran, or one failed (JupyterLab stops there), or
# the kernel died (then JupyterLab restarts it and would wait for ever).
DONE = f"""() => {{ const w = {CURRENT}; const cells = {CODE_CELLS};
  const failed = cells.some(c => c.outputs.toJSON().some(o => o.output_type === 'error'));
  const status = {KERNEL}?.status;
  if (['dead', 'autorestarting', 'restarting'].includes(status)) return true;
  return status === 'idle' && (failed || cells.every(c => c.executionCount !== null)); }}"""
# Where a run stands: for the message of a run that did not finish.
STATE = f"""() => {{ const w = {CURRENT}; const cells = {CODE_CELLS};
  const ran = cells.filter(c => c.executionCount !== null).length;
  const waiting = cells.find(c => c.executionCount === null);
  return 'kernel ' + ({KERNEL}?.status ?? 'none') + ', ' + ran + ' of ' + cells.length +
    ' code cells ran; the first not run: ' +
    (waiting ? waiting.sharedModel.getSource().slice(0, 120) : '-'); }}"""
CHECK_OUTPUTS = f"""() => {{ const w = {CURRENT};
  return Array.from(w.content.model.cells)
      .filter(c => c.type === 'code' && c.sharedModel.getSource().includes('rnnlib.checks.'))
      .map(c => c.outputs.toJSON().map(o => o.text || '').join('')); }}"""
ERRORS = f"""() => {{ const w = {CURRENT};
  return {CODE_CELLS}.flatMap(c => c.outputs.toJSON()
      .filter(o => o.output_type === 'error')
      .map(o => o.ename + ': ' + o.evalue + ' | in: ' + c.sharedModel.getSource().slice(0, 80))); }}"""


def chromium() -> str | None:
    for candidate in (os.environ.get("RNNLIB_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and shutil.which(candidate):
            return shutil.which(candidate)
    return None


def require_chromium(test: str) -> str:
    """Chromium's path; without one, skip ``test`` saying why (fail it in CI, where
    RNNLIB_REQUIRE_BROWSER=1)."""
    path = chromium()
    if path is None:
        message = (f"no Chromium found for the {test}: install Debian's `chromium` "
                   "(apt-get install chromium) or set RNNLIB_CHROMIUM to a Chromium binary")
        if os.environ.get("RNNLIB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    path = require_chromium("browser test")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()


# The server as `jupyter lab` starts it, able to print every thread's stack on SIGUSR2 (SIGUSR1
# is the server's own): a server that stops answering then says where it stands (faulthandler
# writes from a C signal handler, so even a blocked main thread is seen).
SERVER = ("import faulthandler, signal, sys; faulthandler.register(signal.SIGUSR2, all_threads=True); "
          "from jupyterlab.labapp import main; sys.exit(main())")


class Lab:
    """A JupyterLab server on localhost serving ``root``, restartable: one that stops answering
    is replaced, so that one hang fails one test, not every test after it."""

    patience = 30  # seconds an answer may take before the server counts as hung

    def __init__(self, root, **env):
        self.root, self.env, self.restarts = root, env, 0
        self.start()

    def start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = self.root / f"server-{self.restarts}.log"
        self.log = open(self.log_path, "w")
        self.server = subprocess.Popen(
            [sys.executable, "-c", SERVER, "--no-browser", f"--port={port}",
             "--ServerApp.ip=127.0.0.1", "--ServerApp.allow_root=True",
             f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
             f"--LabApp.workspaces_dir={self.root / 'workspaces'}",
             "--LabApp.expose_app_in_browser=True"],  # news and updates: the course's overrides
            env=smoke_env(RNNLIB_STRICT_CHECKS="0", **self.env), stdout=self.log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not self.answers(timeout=2):
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("JupyterLab did not start:\n" + self.log_tail())
            time.sleep(0.5)

    def page_url(self, path: str = "") -> str:
        """``path`` opened in a workspace of its own. A page in the default workspace reopens
        every notebook that pages before it opened, each with a kernel, and may put one of them
        in front of ``path``."""
        workspace = f"run-{secrets.token_hex(4)}"
        tree = f"/tree/{path}" if path else ""
        return f"{self.url}/lab/workspaces/{workspace}{tree}?token={self.token}"

    def answers(self, timeout: float | None = None) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/api/status?token={self.token}",
                                   timeout=timeout or self.patience).close()
            return True
        except OSError:
            return False

    def hung(self) -> bool:
        return self.server.poll() is not None or not self.answers()

    def log_tail(self, chars: int = 6000) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def diagnosis(self) -> str:
        """The end of the server's log; with every thread's stack while the process lives."""
        if self.server.poll() is not None:
            return f"JupyterLab exited ({self.server.returncode}); its log:\n" + self.log_tail()
        self.server.send_signal(signal.SIGUSR2)
        time.sleep(2)
        return "JupyterLab's threads' stacks, and its log:\n" + self.log_tail()

    def stop(self) -> None:
        import psutil

        try:
            kernels = psutil.Process(self.server.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            kernels = []
        self.server.terminate()
        try:
            self.server.wait(timeout=self.patience)
        except subprocess.TimeoutExpired:  # a hung server does not act on SIGTERM
            self.server.kill()
            self.server.wait()
        for kernel in kernels:  # a server that was killed leaves its kernels running
            try:
                kernel.kill()
            except psutil.NoSuchProcess:
                pass
        self.log.close()

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()


def served_copy(root):
    """A copy of what a learner's JupyterLab serves (autosave must not touch the source), as a
    learner's run starts: no outputs."""
    import nbformat

    for folder in ("notebooks", "scripts", "results"):  # 06 and 11 read recorded runs
        shutil.copytree(ROOT / folder, root / folder)
    for path in [*(root / "notebooks").glob("*.ipynb"), *(root / "notebooks").glob("*/*.ipynb")]:
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nbformat.write(nb, path)


def answering(lab: Lab) -> Lab:
    if lab.hung():  # the test it hung in has failed already, saying why
        lab.restart()
    return lab


@pytest.fixture(scope="module")
def lab_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    served_copy(root)
    lab = Lab(root)
    yield lab
    lab.stop()


@pytest.fixture
def lab(lab_server):
    """A JupyterLab server on localhost, serving a copy of the course."""
    return answering(lab_server)


@pytest.fixture(scope="module")
def lab_zh_server(tmp_path_factory):
    """The same, with JupyterLab's interface in Chinese, as ``make lab LANG=zh_CN`` opens it."""
    import json

    root = tmp_path_factory.mktemp("lab-zh")
    served_copy(root)
    settings = root / "user-settings"
    language = settings / "@jupyterlab" / "translation-extension" / "plugin.jupyterlab-settings"
    language.parent.mkdir(parents=True)
    language.write_text(json.dumps({"locale": "zh_CN"}))
    lab = Lab(root, JUPYTERLAB_SETTINGS_DIR=str(settings))
    yield lab
    lab.stop()


@pytest.fixture
def lab_zh(lab_zh_server):
    return answering(lab_zh_server)


def shutdown_kernels(lab: Lab) -> None:
    """Stop every kernel of the server (through its REST API), so the next notebook starts alone."""
    import json

    with urllib.request.urlopen(f"{lab.url}/api/kernels?token={lab.token}", timeout=30) as response:
        kernels = json.load(response)
    for kernel in kernels:
        request = urllib.request.Request(f"{lab.url}/api/kernels/{kernel['id']}?token={lab.token}",
                                         method="DELETE")
        try:
            urllib.request.urlopen(request, timeout=30).close()
        except urllib.error.HTTPError as error:
            if error.code != 404:  # 404: it stopped on its own meanwhile
                raise


class ServerHung(Exception):
    """JupyterLab itself stopped answering (not the notebook's kernel)."""


STALL_S = 30
# Idle with nothing run and nothing running: the Run All never reached the kernel.
STALLED = f"""() => {{ const w = {CURRENT}; const cells = {CODE_CELLS};
  return {KERNEL}?.status === 'idle' && cells.every(c => c.executionCount === null &&
                                                   c.executionState !== 'running'); }}"""


SERVER_CHECK_S = 15


def wait_until_done_or_stalled(page, lab: Lab, deadline: float) -> bool:
    """True when the run is done; False when it stalled for STALL_S seconds or ran out of time.
    Raises ServerHung when JupyterLab itself stops answering."""
    stalled_since, checked = None, time.monotonic()
    while time.monotonic() < deadline:
        if page.evaluate(DONE):
            return True
        if time.monotonic() - checked > SERVER_CHECK_S:
            if lab.hung():
                raise ServerHung(f"during the run: {page.evaluate(STATE)}\n{lab.diagnosis()}")
            checked = time.monotonic()
        if page.evaluate(STALLED):
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > STALL_S:
                return False
        else:
            stalled_since = None
        time.sleep(0.5)
    return False


DIAGRAM = r"!\[[^\]]*\]\((figures/[^)\s]+\.svg)\)"
# Every image of the rendered markdown, scrolled into view (a windowed notebook loads lazily).
# Only the notebook in front.
IMAGES = f"""() => {{ const w = {CURRENT};
  const imgs = Array.from(w ? w.node.querySelectorAll('.jp-MarkdownOutput img') : []);
  imgs.forEach(i => i.scrollIntoView());
  return imgs.map(i => ({{src: i.getAttribute('src') || '', done: i.complete,
                          loaded: i.complete && i.naturalWidth > 0,
                          alt: i.getAttribute('alt') || ''}})); }}"""



def diagrams_shown(page, expected: int) -> list[dict]:
    """The SVG images JupyterLab shows in the notebook in front, once `expected` of them have
    loaded or failed to (or after 60 s: the caller's assert then says what it saw)."""
    deadline, images = time.monotonic() + 60, []
    while time.monotonic() < deadline:
        images = [i for i in page.evaluate(IMAGES) if ".svg" in i["src"]]
        if len(images) >= expected and all(i["done"] for i in images):
            break
        time.sleep(0.5)
    return images

def run_all_cells(browser, lab: Lab, relative_path: str, diagrams: int = 0,
                  checks: list | None = None) -> tuple[list, list]:
    """Open a notebook in JupyterLab, run all cells; return the error outputs, and the
    diagrams shown (when `diagrams` of them are expected). ``checks``, when given, receives
    the text each self-check cell printed.

    A server that stops answering is not the notebook's doing: the run then goes once more on a
    fresh server, with a warning that carries the hung server's stacks and log (two hangs in a
    row fail the test with them)."""
    try:
        return run_all_cells_once(browser, lab, relative_path, diagrams, checks)
    except ServerHung as hang:
        warnings.warn(f"{relative_path}: run again on a fresh JupyterLab server. {hang}",
                      stacklevel=2)
        lab.restart()
        if checks is not None:
            checks.clear()
        return run_all_cells_once(browser, lab, relative_path, diagrams, checks)


def run_all_cells_once(browser, lab: Lab, relative_path: str, diagrams: int,
                       checks: list | None) -> tuple[list, list]:
    page, hung = browser.new_page(), False
    try:
        page.goto(lab.page_url(relative_path))
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.wait_for_function(ALL_CLEARED, timeout=30_000)  # the served copies have no outputs
        # Commands return promises: start this one without awaiting it (a stuck one would hang
        # the test, where the deadline below fails it and says so). On a busy machine a Run All
        # is now and then lost between the page and the kernel (nothing runs, the kernel stays
        # idle): after STALL_S seconds like that, reload the page and ask again, at most twice.
        deadline = time.monotonic() + RUN_TIMEOUT_MS / 1000
        for attempt in range(3):
            page.evaluate(f"() => {{ {COMMAND}('notebook:run-all-cells'); }}")
            if wait_until_done_or_stalled(page, lab, deadline):
                break
            if attempt == 2 or time.monotonic() > deadline:
                pytest.fail(f"{relative_path} did not finish: {page.evaluate(STATE)}")
            page.reload()
            page.wait_for_function(KERNEL_READY, timeout=120_000)
        state = page.evaluate(STATE)
        if state.startswith(("kernel dead", "kernel autorestarting", "kernel restarting")):
            pytest.fail(f"{relative_path}: the kernel died during the run: {state}")
        if checks is not None:
            checks.extend(page.evaluate(CHECK_OUTPUTS))
        return page.evaluate(ERRORS), diagrams_shown(page, diagrams) if diagrams else []
    except ServerHung:
        hung = True
        raise
    except BaseException as failure:
        hung = lab.hung()
        if hung:
            raise ServerHung(f"{type(failure).__name__}: {failure}\n{lab.diagnosis()}") from failure
        raise
    finally:
        page.close()
        if not hung:  # a hung server is replaced with its kernels
            shutdown_kernels(lab)


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_notebook_runs_all_cells_in_jupyterlab_in_chromium_and_shows_its_diagrams(path, browser,
                                                                                  lab):
    expected = len(re.findall(DIAGRAM, path.read_text()))
    errors, images = run_all_cells(browser, lab, f"notebooks/{path.name}", expected)
    assert not errors, f"{path.name} showed errors in JupyterLab: {errors}"
    assert len(images) == expected and all(i["loaded"] and i["alt"] for i in images), \
        f"{path.name}: {expected} diagrams referenced, JupyterLab shows {images}"


@pytest.mark.notebook
def test_a_student_copy_with_every_exercise_undone_runs_to_the_end(browser, lab):
    """Run All in a student copy (solutions removed, stubs untouched): no cell stops it; each
    self-check says in a line that the exercise is not written yet and binds the reference."""
    import nbformat

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_student import student_copy

    source = ROOT / "notebooks" / "02-rnn.ipynb"
    student = student_copy(nbformat.read(source, as_version=4))
    nbformat.write(student, lab.root / "notebooks" / "student-02-rnn.ipynb")
    checks: list[str] = []
    errors, _ = run_all_cells(browser, lab, "notebooks/student-02-rnn.ipynb", checks=checks)
    assert not errors, f"the student copy of 02 stopped: {errors}"
    assert checks and all("not written yet" in text for text in checks), checks


def test_the_browser_run_sees_an_error_output(browser, lab):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("x = 1"),
                nbformat.v4.new_code_cell("raise ValueError('seen in the browser')"),
                nbformat.v4.new_code_cell("y = 2")]
    nbformat.write(nb, lab.root / "broken.ipynb")
    errors, _ = run_all_cells(browser, lab, "broken.ipynb")
    assert len(errors) == 1 and "ValueError: seen in the browser" in errors[0]


def test_a_server_that_stops_answering_is_replaced_and_the_run_goes_again(browser, lab,
                                                                          monkeypatch):
    """JupyterLab hanging mid-run (here its kernel stops it with SIGSTOP, the first time only) is
    not the notebook's fault: the run warns, with the server's log, and goes again on a fresh
    server."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(
                    "import os, pathlib, signal\n"
                    "if not pathlib.Path('server-stopped-once').exists():\n"
                    "    pathlib.Path('server-stopped-once').touch()\n"
                    "    os.kill(os.getppid(), signal.SIGSTOP)  # the kernel's parent: the server"),
                nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, lab.root / "hangs-once.ipynb")
    monkeypatch.setattr(lab, "patience", 5)
    monkeypatch.setattr(sys.modules[__name__], "SERVER_CHECK_S", 2)
    restarts = lab.restarts
    with pytest.warns(UserWarning, match="run again on a fresh JupyterLab server"):
        errors, _ = run_all_cells(browser, lab, "hangs-once.ipynb")
    assert not errors and lab.restarts == restarts + 1
    assert "Current thread" in lab.diagnosis()  # the stacks of a server that runs


def test_jupyterlab_opens_without_the_jupyter_news_prompt(browser, lab):
    """The course's settings overrides (jupyterlab-settings/) turn the news prompt and the
    update check off, as `make lab` and Binder install them."""
    import json

    plugin = "@jupyterlab/apputils-extension:notification"
    with urllib.request.urlopen(f"{lab.url}/lab/api/settings/{plugin}?token={lab.token}",
                                timeout=30) as response:
        defaults = json.load(response)["schema"]["properties"]  # overrides set the defaults
    assert defaults["fetchNews"]["default"] == "false"  # JupyterLab's own default: "none", ask
    assert defaults["checkForUpdates"]["default"] is False
    page = browser.new_page()
    try:
        page.goto(lab.page_url("notebooks/00-welcome.ipynb"))
        page.wait_for_function(KERNEL_READY, timeout=120_000)
        page.wait_for_timeout(5000)  # the prompt, when it comes, comes in the first seconds
        assert "official Jupyter news" not in page.inner_text("body")
    finally:
        page.close()



def test_the_browser_run_sees_a_diagram_that_does_not_load(browser, lab):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("![a diagram that is not there at all](figures/"
                                              "missing.svg)"),
                nbformat.v4.new_code_cell("x = 1")]
    nbformat.write(nb, lab.root / "notebooks" / "missing-diagram.ipynb")
    errors, images = run_all_cells(browser, lab, "notebooks/missing-diagram.ipynb", 1)
    assert not errors and len(images) == 1 and not images[0]["loaded"]


ZH_MENU = "() => Array.from(document.querySelectorAll('.lm-MenuBar-itemLabel')).map(e => e.textContent)"


@pytest.mark.notebook
def test_chinese_edition_runs_in_jupyterlab_in_chinese(browser, lab_zh):
    """Two Chinese notebooks in the Chinese interface: 00, and the student copy of 01 (its
    diagram comes from ../figures/, its exercises are left undone)."""
    import nbformat

    sys.path.insert(0, str(ROOT / "scripts"))
    from make_student import student_copy

    root = lab_zh.root
    page = browser.new_page()
    try:
        page.goto(lab_zh.page_url())
        page.wait_for_function(f"() => ({ZH_MENU})().length > 0", timeout=120_000)
        menus = page.evaluate(ZH_MENU)
    finally:
        page.close()
    assert "文件" in menus and "编辑" in menus, f"JupyterLab's menus are not in Chinese: {menus}"
    errors, _ = run_all_cells(browser, lab_zh, "notebooks/zh-CN/00-welcome.ipynb")
    assert not errors, f"zh-CN/00-welcome.ipynb showed errors in JupyterLab: {errors}"
    twin = ROOT / "notebooks" / "zh-CN" / "01-sequences.ipynb"
    nbformat.write(student_copy(nbformat.read(twin, as_version=4)),
                   root / "notebooks" / "zh-CN" / "student-01-sequences.ipynb")
    expected = len(re.findall(r"!\[[^\]]*\]\((\.\./figures/[^)\s]+\.svg)\)", twin.read_text()))
    checks: list[str] = []
    errors, images = run_all_cells(browser, lab_zh, "notebooks/zh-CN/student-01-sequences.ipynb",
                                   expected, checks=checks)
    assert not errors, f"the Chinese student copy of 01 stopped: {errors}"
    assert checks and all("not written yet" in text for text in checks), checks
    assert expected and len(images) == expected and all(i["loaded"] for i in images), \
        f"zh-CN 01: {expected} diagrams referenced, JupyterLab shows {images}"
