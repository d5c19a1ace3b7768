"""How the tests run notebooks: nbval and papermill, each in smoke mode, each in a fresh kernel.

Both runners return what they saw instead of raising, so a test can assert on it, and so
tests/test_notebooks.py can prove that a notebook with a failing cell fails under both.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval_sanitize.cfg"
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
CELL_TIMEOUT = 600  # seconds; smoke mode keeps every notebook far below this
# Kernels draw figures inline, as in JupyterLab, whatever MPLBACKEND the tests themselves use.
INLINE = "module://matplotlib_inline.backend_inline"


def notebooks() -> list[Path]:
    """The course's notebooks, in order."""
    return sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))


def code_tokens(source: str) -> list[tuple[int, str]]:
    """A code cell's tokens without comments and layout: equal means the same code."""
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT}
    try:
        return [(t.type, t.string) for t in tokenize.generate_tokens(io.StringIO(source).readline)
                if t.type not in skip]
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return [(0, line) for line in source.splitlines() if not line.lstrip().startswith("#")]


def code_hash(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of a notebook's code cells (sources and tags): changes when the code does."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
            digest.update(json.dumps(sorted(cell.metadata.get("tags", []))).encode())
    return digest.hexdigest()


# -- What produced a notebook's stored outputs ----------------------------------------------

RNNLIB = ROOT / "rnnlib"
RNNLIB_IMPORT = re.compile(r"\brnnlib(?:\.(\w+))?")


def _module_file(name: str) -> Path | None:
    """rnnlib/x.py or rnnlib/x/__init__.py for the dotted name "rnnlib.x" (None if not ours)."""
    parts = name.split(".")
    if parts[0] != "rnnlib":
        return None
    base = RNNLIB.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports_of(source: str, package: str, attributes: bool = False) -> set[str]:
    """The rnnlib modules a piece of code imports (``import rnnlib.x``, ``from rnnlib import
    x``, ``from rnnlib.x import y``, relative imports) and, with ``attributes`` (notebook code,
    where ``import rnnlib`` loads submodules on first use), reaches as ``rnnlib.x``."""
    found = {f"rnnlib.{m}" if m else "rnnlib" for m in RNNLIB_IMPORT.findall(source)} \
        if attributes else set()
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a notebook cell with IPython magic: the regex above still counts
        return found
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "rnnlib" or name.startswith("rnnlib.")}


def rnnlib_sources(nb: nbformat.NotebookNode) -> list[Path]:
    """The rnnlib source files a notebook's code runs: what its cells import, and what those
    modules import in turn (a package's ``__init__`` and every parent package included)."""
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    todo, seen = list(_imports_of(code, "rnnlib", attributes=True) | {"rnnlib"}), set()
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        todo += _imports_of(path.read_text(), package)
        todo += [".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)]
    return sorted(seen)


def fingerprint(nb: nbformat.NotebookNode) -> dict[str, str]:
    """SHA-256s of what a notebook's outputs depend on: its code cells, the rnnlib sources it
    runs, and the data files (their published hashes, as rnnlib.data checks them)."""
    sources = hashlib.sha256()
    for path in rnnlib_sources(nb):
        sources.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    data = (ROOT / "rnnlib" / "data.py").read_text()
    files = re.search(r"^FILES: dict\[str, str\] = \{(.*?)^\}", data, re.S | re.M)
    return {"code": code_hash(nb), "rnnlib": sources.hexdigest(),
            "data": hashlib.sha256(files[1].encode() if files else b"").hexdigest()}


# -- Outputs as nbval compares them ----------------------------------------------------------

NBVAL_SKIPS = {"metadata", "traceback", "prompt_number", "output_type", "name",
               "execution_count", "application/vnd.jupyter.widget-view+json", "image/png",
               "image/jpeg"}


@functools.cache
def _sanitizers() -> list[tuple[re.Pattern, str]]:
    """The regex/replace pairs of tests/nbval_sanitize.cfg, which nbval applies before
    comparing."""
    pairs, regex = [], None
    for line in SANITIZE.read_text().splitlines():
        if line.startswith("regex:"):
            regex = line.split(":", 1)[1].strip()
        elif line.startswith("replace:") and regex is not None:
            pairs.append((re.compile(regex), line.split(":", 1)[1].strip()))
            regex = None
    return pairs


def comparable(outputs: list) -> dict[str, list[str]]:
    """A cell's outputs flattened as nbval flattens them: mime type or stream name -> the
    sanitized texts, in order (images and widget views are not compared)."""
    flat: dict[str, list[str]] = {}
    for output in outputs:
        if output.get("output_type") == "stream":
            items = {output["name"]: output["text"]}
        else:
            items = {k: v for k, v in output.items() if k != "data"} | dict(output.get("data", {}))
        for key, value in items.items():
            if key in NBVAL_SKIPS:
                continue
            text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
            for pattern, replacement in _sanitizers():
                text = pattern.sub(replacement, text)
            flat.setdefault(key, []).append(text)
    return {k: ["".join(v)] if k in ("stdout", "stderr") else v for k, v in flat.items()}


def outputs_differ(a: list, b: list) -> bool:
    return comparable(a) != comparable(b)


def learner_env() -> dict[str, str]:
    """The environment of a learner's run (``make outputs``, ``make results``): no smoke mode,
    no thread count forced, so ``rnnlib.setup`` chooses the threads as it does for a learner."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("RNNLIB_SMOKE", "RNNLIB_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                        "RNNLIB_RESULTS", "RNNLIB_STRICT_CHECKS")}
    env.update(MPLBACKEND=INLINE, PYDEVD_DISABLE_FILE_VALIDATION="1")
    return env


def smoke_env(**extra: str) -> dict[str, str]:
    """A smoke run's environment; self-checks raise on a failure (strict) unless ``extra``
    says ``RNNLIB_STRICT_CHECKS="0"``, as a learner's run does."""
    env = dict(os.environ, RNNLIB_STRICT_CHECKS="1", RNNLIB_SMOKE="1", RNNLIB_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND=INLINE, PYDEVD_DISABLE_FILE_VALIDATION="1")
    env.update(extra)
    return env


def run_nbval(path: Path) -> subprocess.CompletedProcess:
    """Execute a notebook under nbval (a pytest plugin) and compare its stored outputs."""
    command = [sys.executable, "-m", "pytest", "--nbval", str(path), "-q", "-p", "no:xdist",
               "-p", "no:cacheprovider", f"--nbval-cell-timeout={CELL_TIMEOUT}",
               "--nbval-sanitize-with", str(SANITIZE), "--nbval-kernel-name", "python3",
               "--rootdir", str(path.parent), "-c", os.devnull]
    return subprocess.run(command, cwd=path.parent, env=smoke_env(), capture_output=True,
                          text=True)


@dataclass
class PapermillRun:
    notebook: nbformat.NotebookNode | None  # the executed notebook (None if it never started)
    error: str | None                       # the failure, or None
    reports: list[dict]                     # what rnnlib.report() logged, one dict per call


def run_papermill(path: Path, out_dir: Path, parameters: dict | None = None) -> PapermillRun:
    """Execute a notebook with papermill, injecting ``SMOKE=True`` (and ``parameters``).

    The kernel runs with the notebook's folder as working directory; the executed copy and
    the report log go to ``out_dir``.
    """
    import papermill

    output = out_dir / path.name
    results = out_dir / f"{path.stem}.results.jsonl"
    saved = dict(os.environ)
    os.environ.update(smoke_env(RNNLIB_RESULTS=str(results)))
    error = None
    try:
        papermill.execute_notebook(str(path), str(output), parameters={"SMOKE": True,
                                   **(parameters or {})}, cwd=str(path.parent),
                                   kernel_name="python3", progress_bar=False,
                                   log_output=False, execution_timeout=CELL_TIMEOUT)
    except Exception as exc:  # papermill raises PapermillExecutionError on a failing cell
        error = f"{type(exc).__name__}: {exc}"
    finally:
        os.environ.clear()
        os.environ.update(saved)
    executed = nbformat.read(output, as_version=4) if output.exists() else None
    reports = ([json.loads(line) for line in results.read_text().splitlines()]
               if results.exists() else [])
    return PapermillRun(executed, error, reports)


def text_outputs(cell: nbformat.NotebookNode) -> str:
    """All the text a code cell showed (streams, results, errors)."""
    parts = []
    for output in cell.get("outputs", []):
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.get("data", {}).get("text/plain", ""))
        elif output.output_type == "error":
            parts.append(f"{output.ename}: {output.evalue}")
    return "".join(parts)


def run_allowing_errors(nb: nbformat.NotebookNode, cwd: Path,
                        strict: bool = True) -> nbformat.NotebookNode:
    """Execute every cell of ``nb`` in smoke mode even after errors (for student copies). With
    ``strict=False`` the self-checks bind the course's reference instead of raising, as in a
    learner's run."""
    from nbclient import NotebookClient

    saved = dict(os.environ)
    os.environ.update(smoke_env(RNNLIB_STRICT_CHECKS="1" if strict else "0"))
    try:
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb
