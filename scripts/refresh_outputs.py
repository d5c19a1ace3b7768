"""Re-run notebooks in smoke mode and store their outputs (what nbval compares against).

    python scripts/refresh_outputs.py                      # every notebook
    python scripts/refresh_outputs.py notebooks/02-rnn.ipynb

Runs each notebook top to bottom in a fresh kernel (cwd = notebooks/, RNNLIB_SMOKE=1, one torch
thread), tidies its metadata (kernelspec python3, no editor leftovers), and records a hash of
its code cells in the notebook's metadata: tests/test_contract.py fails when a code cell was
edited after the outputs were stored.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from notebook_harness import KERNELSPEC, code_hash, notebooks, smoke_env  # noqa: E402

EDITOR_KEYS = ("jupytext", "widgets", "papermill", "toc", "vscode", "colab")
CELL_EDITOR_KEYS = ("lines_to_next_cell", "execution", "collapsed", "scrolled", "papermill")


def tidy(nb: nbformat.NotebookNode) -> None:
    for key in EDITOR_KEYS:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        for key in CELL_EDITOR_KEYS:
            cell.metadata.pop(key, None)


def refresh(path: Path, timeout: int) -> None:
    nb = nbformat.read(path, as_version=4)
    tidy(nb)
    os.environ.update(smoke_env())
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
    nb.metadata.pop("widgets", None)  # widget state is per run: never compared, only noise
    nb.metadata["rnnlib"] = {"code_sha256": code_hash(nb)}
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"refreshed {path.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    for path in args.paths or notebooks():
        refresh(path.resolve(), args.timeout)


if __name__ == "__main__":
    main()
