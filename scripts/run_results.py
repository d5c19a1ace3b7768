"""`make results`: run notebooks in learner mode and record what they report.

    python scripts/run_results.py                 # every notebook that trains
    python scripts/run_results.py 07-sentiment    # some of them (name prefixes)
    python scripts/run_results.py --all           # every notebook, training or not

Each notebook runs in a fresh kernel under papermill (learner mode: SMOKE=False), one at a
time, in a child process of its own so that its peak memory can be read back. For each one
this writes the figures it passed to ``rnnlib.report``, its wall time and the kernel's peak
resident memory to ``results/learner-mode.json`` and a table to ``results/learner-mode.md``,
with the machine they ran on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from notebook_harness import INLINE, notebooks  # noqa: E402
from test_notebooks import REPORTED  # noqa: E402  (the notebooks that train and report)

# Runs in a child process: papermill starts the kernel as *its* child, so the child's
# RUSAGE_CHILDREN peak is the kernel's peak memory.
CHILD = """
import json, resource, sys, papermill
papermill.execute_notebook(sys.argv[1], sys.argv[2], parameters={"SMOKE": False},
                           cwd=sys.argv[3], kernel_name="python3", progress_bar=False)
print(json.dumps({"peak_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def machine() -> str:
    import torch

    from rnnlib.course import cpu_name, describe_device, usable_cpus

    device = describe_device(torch.device("cuda")) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.system()} {platform.machine()} ({cpu_name()}), {usable_cpus()} usable "
            f"CPUs, {device}, "
            f"torch {torch.__version__}")


def run(path: Path, out_dir: Path) -> dict:
    results = out_dir / f"{path.stem}.jsonl"
    env = dict(os.environ, RNNLIB_RESULTS=str(results), MPLBACKEND=INLINE)
    env.pop("RNNLIB_SMOKE", None)
    start = time.perf_counter()
    child = subprocess.run([sys.executable, "-c", CHILD, str(path), str(out_dir / path.name),
                            str(path.parent)], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    record = {"notebook": path.stem, "wall_s": round(wall, 1), "ok": child.returncode == 0}
    if child.returncode == 0:
        record["peak_mib"] = round(json.loads(child.stdout.strip().splitlines()[-1])
                                   ["peak_kib"] / 1024)
    else:
        record["error"] = child.stderr.strip().splitlines()[-1][:300] if child.stderr else "?"
    figures = {}
    if results.exists():
        for line in results.read_text().splitlines():
            figures.update({k: v for k, v in json.loads(line).items()
                            if k not in ("notebook", "smoke", "device", "time")})
    record["figures"] = figures
    return record


def write(records: list[dict], where: str) -> None:
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y-%m-%d")
    (out / "learner-mode.json").write_text(json.dumps(
        {"machine": where, "date": stamp, "notebooks": records}, indent=1) + "\n")
    lines = [f"# Learner-mode results ({stamp})", "", f"Machine: {where}.", "",
             "| notebook | wall time (s) | peak memory (MiB) | reported |", "|---|---:|---:|---|"]
    for r in records:
        figures = ", ".join(f"{k} = {v:.4g}" for k, v in r["figures"].items()) or "-"
        if not r["ok"]:
            figures = f"FAILED: {r['error']}"
        lines.append(f"| {r['notebook']} | {r['wall_s']} | {r.get('peak_mib', '-')} | {figures} |")
    (out / "learner-mode.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all that train)")
    parser.add_argument("--all", action="store_true", help="every notebook, not only training ones")
    args = parser.parse_args()
    chosen = [p for p in notebooks()
              if (args.all or p.stem in REPORTED or args.names)
              and (not args.names or any(p.stem.startswith(n) for n in args.names))]
    if not chosen:
        raise SystemExit("no notebook matches; the notebooks are "
                         f"{[p.stem for p in notebooks()]}")
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in chosen:
            print(f"running {path.stem} in learner mode ...", flush=True)
            records.append(run(path, Path(tmp)))
            print(f"  {records[-1]['wall_s']} s, {records[-1].get('peak_mib', '?')} MiB", flush=True)
    write(records, machine())
    if not all(r["ok"] for r in records):
        raise SystemExit("some notebooks failed: see results/learner-mode.md")


if __name__ == "__main__":
    main()
