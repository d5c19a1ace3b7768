"""How the tests run notebooks: nbval and papermill, each in smoke mode, each in a fresh kernel.

Both runners return what they saw instead of raising, so a test can assert on it, and so
tests/test_notebooks.py can prove that a notebook with a failing cell fails under both.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
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


def code_hash(nb: nbformat.NotebookNode) -> str:
    """SHA-256 of a notebook's code cells (sources and tags): changes when the code does."""
    digest = hashlib.sha256()
    for cell in nb.cells:
        if cell.cell_type == "code":
            digest.update(cell.source.encode())
            digest.update(json.dumps(sorted(cell.metadata.get("tags", []))).encode())
    return digest.hexdigest()


def smoke_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, RNNLIB_SMOKE="1", RNNLIB_THREADS="1", OMP_NUM_THREADS="1",
               MKL_NUM_THREADS="1", MPLBACKEND=INLINE, PYDEVD_DISABLE_FILE_VALIDATION="1")
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


def run_allowing_errors(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    """Execute every cell of ``nb`` in smoke mode even after errors (for student copies)."""
    from nbclient import NotebookClient

    saved = dict(os.environ)
    os.environ.update(smoke_env())
    try:
        NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3", allow_errors=True,
                       resources={"metadata": {"path": str(cwd)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb
