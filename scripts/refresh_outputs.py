"""`make outputs`: re-run notebooks in learner mode and store their outputs.

    python scripts/refresh_outputs.py                            # every notebook
    python scripts/refresh_outputs.py notebooks/02-rnn.ipynb     # some of them
    python scripts/refresh_outputs.py --smoke notebooks/02-rnn.ipynb   # quick, for drafts

A learner opening a notebook on GitHub, nbviewer, Binder or a hub sees its stored outputs
before running anything, so they are those of a learner's run: the parameters cell's defaults
(smoke mode off), on a CPU, in a fresh kernel, top to bottom, with the threads ``rnnlib.setup``
chooses. Then, for each notebook:

- the same notebook runs once more in smoke mode, as nbval will run it in the tests, and every
  cell whose output differs between the two modes is tagged ``nbval-ignore-output``; cells that
  carry the tag but printed the same in both are listed, for a person to judge (their output
  may still depend on the machine);
- widget views (tqdm's bars) are dropped: no widget state is stored;
- the metadata records how the outputs were made (``rnnlib.outputs``): the mode, the machine,
  the torch version, the date, and a fingerprint of the notebook's code, the rnnlib sources it
  runs and the data hashes. tests/test_contract.py fails when the fingerprint no longer
  matches, and names this command.

The learner-mode runs come first, one at a time and alone (the notebooks print timings), each
in a child process of its own so that its kernel's peak memory can be read back; the smoke runs
that tag the cells follow, two at a time. The learner-mode figures of each notebook (what it passes to ``rnnlib.report``),
its wall time and peak memory go to results/ (``run_results.write``), so that results/, the
README, the instructor guide's timings and the stored outputs come from one run. ``make
results`` is this command.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_harness import (  # noqa: E402
    KERNELSPEC,
    fingerprint,
    learner_env,
    notebooks,
    outputs_differ,
    smoke_env,
)

EDITOR_KEYS = ("jupytext", "widgets", "papermill", "toc", "vscode", "colab")
CELL_EDITOR_KEYS = ("lines_to_next_cell", "execution", "collapsed", "scrolled", "papermill")
WIDGET = "application/vnd.jupyter.widget-view+json"
IGNORE = "nbval-ignore-output"


def tidy(nb: nbformat.NotebookNode) -> None:
    for key in EDITOR_KEYS:
        nb.metadata.pop(key, None)
    nb.metadata["kernelspec"] = dict(KERNELSPEC)
    nb.metadata["language_info"] = {"name": "python"}
    for cell in nb.cells:
        for key in CELL_EDITOR_KEYS:
            cell.metadata.pop(key, None)


def execute(nb: nbformat.NotebookNode, path: Path, env: dict[str, str], timeout: int) -> None:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def without_widgets(nb: nbformat.NotebookNode) -> None:
    """Drop widget views (tqdm's progress bars): a page without the widgets' state (GitHub,
    nbviewer, a fresh JupyterLab) could only show "Loading widget..." or a bar frozen at 0%.
    The epoch lines printed beside them stay."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET not in o.get("data", {})]


def machine() -> str:
    import platform

    from rnnlib.course import cpu_name, usable_cpus

    return f"{platform.machine()}, {cpu_name()}, {usable_cpus()} usable CPUs"


def shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def run_learner(path: Path, timeout: int, out: Path) -> dict:
    """Phase 1, alone on the machine: one learner-mode run of ``path``, its executed copy
    written to ``out``; returns its record for results/ (wall time, the figures it reported)."""
    nb = nbformat.read(path, as_version=4)
    tidy(nb)
    with tempfile.TemporaryDirectory() as tmp:
        reported = Path(tmp) / "reported.jsonl"
        start = time.perf_counter()
        execute(nb, path, dict(learner_env(), RNNLIB_RESULTS=str(reported)), timeout)
        wall = time.perf_counter() - start
        figures = {}
        for line in reported.read_text().splitlines() if reported.exists() else []:
            figures.update({k: v for k, v in json.loads(line).items()
                            if k not in ("notebook", "smoke", "device", "time")})
    without_widgets(nb)
    nb.metadata["rnnlib"] = {"outputs": {"figures": figures}}   # kept by store()
    nbformat.write(nb, out)
    print(f"ran {shown(path)} in learner mode, {wall:.1f} s", flush=True)
    return {"notebook": path.stem, "wall_s": round(wall, 1), "ok": True, "figures": figures}


def store(path: Path, nb: nbformat.NotebookNode, mode: str) -> None:
    """Write ``nb`` over ``path`` with the record of how its outputs were made."""
    import torch

    nb.metadata.pop("widgets", None)
    # What the run passed to rnnlib.report: tests/claims.py checks the prose against it.
    figures = nb.metadata.get("rnnlib", {}).get("outputs", {}).get("figures", {})
    nb.metadata["rnnlib"] = {"outputs": {
        "mode": mode, "machine": machine(), "torch": torch.__version__,
        "date": datetime.date.today().isoformat(), "fingerprint": fingerprint(nb),
        "figures": figures}}
    nbformat.validate(nb)
    nbformat.write(nb, path)
    print(f"refreshed {shown(path)} ({mode} mode)", flush=True)


def tag_and_store(path: Path, executed: Path, timeout: int) -> None:
    """Phase 2, timing nothing: tag the executed copy's mode-dependent cells, store it."""
    nb = nbformat.read(executed, as_version=4)
    tag_mode_dependent_cells(nb, path, timeout)
    store(path, nb, "learner")


def refresh_smoke(path: Path, timeout: int) -> None:
    """A smoke run stored as it is (quick, for drafts; the tests flag it as not final)."""
    nb = nbformat.read(path, as_version=4)
    tidy(nb)
    nb.metadata.pop("rnnlib", None)
    execute(nb, path, smoke_env(), timeout)
    without_widgets(nb)
    store(path, nb, "smoke")


def tag_mode_dependent_cells(nb: nbformat.NotebookNode, path: Path, timeout: int) -> None:
    """Tag the cells whose output a smoke run changes, so that nbval skips only those."""
    smoke = copy.deepcopy(nb)
    for cell in smoke.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    execute(smoke, path, smoke_env(), timeout)
    without_widgets(smoke)
    code = [c for c in nb.cells if c.cell_type == "code"]
    smoke_code = [c for c in smoke.cells if c.cell_type == "code"]
    for number, (learner_cell, smoke_cell) in enumerate(zip(code, smoke_code, strict=True), 1):
        tags = learner_cell.metadata.setdefault("tags", [])
        differs = outputs_differ(learner_cell.outputs, smoke_cell.outputs)
        if differs and IGNORE not in tags:
            tags.append(IGNORE)
            print(f"  code cell {number}: output depends on the mode, now tagged {IGNORE}")
        elif not differs and IGNORE in tags and learner_cell.outputs:
            print(f"  code cell {number}: tagged {IGNORE} but the same in both modes here "
                  f"(keep the tag only if it depends on the machine): "
                  f"{learner_cell.source.splitlines()[0][:60]!r}")
        if not tags:
            del learner_cell.metadata["tags"]


def child(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, *args], stderr=subprocess.PIPE, text=True)


def failure(path: Path, process: subprocess.Popen, stderr: str) -> dict:
    last = stderr.strip().splitlines()[-1] if stderr.strip() else "no message"
    print(stderr[-4000:], file=sys.stderr)
    return {"notebook": path.stem, "wall_s": None, "ok": False, "error": last[:300],
            "figures": {}}


def refresh_all(paths: list[Path], timeout: int, workers: int = 2) -> list[dict]:
    """Phase 1: every learner-mode run, one at a time, each in a child process of its own (so
    that its kernel's peak memory can be read back: the child's RUSAGE_CHILDREN peak) and with
    nothing else running, since notebooks print timings. Phase 2: the smoke runs that tag the
    mode-dependent cells, ``workers`` at a time (they time nothing). A notebook that fails is
    not written."""
    records, executed = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            out, record_file = Path(tmp) / path.name, Path(tmp) / f"{path.stem}.json"
            process = child("--learner", str(record_file), "--out", str(out),
                            "--timeout", str(timeout), str(path))
            _, stderr = process.communicate()
            if process.returncode == 0 and record_file.exists():
                records.append(json.loads(record_file.read_text()))
                executed[path] = out
            else:
                records.append(failure(path, process, stderr))
        pending, running = list(executed.items()), []
        while pending or running:
            while pending and len(running) < workers:
                path, out = pending.pop(0)
                running.append((path, child("--tag", str(out), "--timeout", str(timeout),
                                            str(path))))
            path, process = running.pop(0)
            _, stderr = process.communicate()
            if process.returncode != 0:
                record = next(r for r in records if r["notebook"] == path.stem)
                record.update(failure(path, process, stderr))
    return records


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=Path, help="notebooks (default: all)")
    parser.add_argument("--smoke", action="store_true",
                        help="store a smoke run instead (quick; the tests flag it as not final)")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    # the two phases of one notebook, each in a child process
    parser.add_argument("--learner", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tag", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.paths or notebooks()]
    if args.learner:
        record = run_learner(paths[0], args.timeout, args.out)
        record["peak_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
        args.learner.write_text(json.dumps(record))
        return
    if args.tag:
        tag_and_store(paths[0], args.tag, args.timeout)
        return
    if args.smoke:
        for path in paths:
            refresh_smoke(path, args.timeout)
        return
    records = refresh_all(paths, args.timeout)
    from run_results import machine as results_machine
    from run_results import write

    write(records, results_machine())
    failed = [r["notebook"] for r in records if not r["ok"]]
    if failed:
        raise SystemExit(f"failed, outputs not stored: {', '.join(failed)}")


if __name__ == "__main__":
    main()
