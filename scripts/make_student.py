"""`make student`: the learners' copies of the notebooks, without the worked solutions.

    python scripts/make_student.py   # student/NN-topic.ipynb and student/zh-CN/NN-topic.ipynb

From the same source notebooks (nothing is maintained twice): every cell tagged ``solution``
is dropped, outputs are cleared, and the exercise stubs and self-checks stay. The diagrams
(``notebooks/figures/``) are copied beside them, so that the copies show them too; the Chinese
edition's copies go to ``zh-CN/`` below them, where its ``../figures/`` links find the same
diagrams. In a student copy
each self-check therefore runs on the untouched stub and says what to do.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from notebook_harness import notebooks  # noqa: E402


def student_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` without solution cells and without outputs."""
    copy = nbformat.from_dict(nb)
    copy.cells = [c for c in copy.cells if "solution" not in c.metadata.get("tags", [])]
    for cell in copy.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    copy.metadata.pop("rnnlib", None)  # the stored-output hash belongs to the source
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "student", help="output folder")
    args = parser.parse_args()
    args.out.mkdir(exist_ok=True)
    chinese = ROOT / "notebooks" / "zh-CN"
    for path in notebooks():
        nbformat.write(student_copy(nbformat.read(path, as_version=4)), args.out / path.name)
        print(f"wrote {args.out.name}/{path.name}")
        twin = chinese / path.name
        if twin.is_file():
            (args.out / "zh-CN").mkdir(exist_ok=True)
            nbformat.write(student_copy(nbformat.read(twin, as_version=4)),
                           args.out / "zh-CN" / path.name)
            print(f"wrote {args.out.name}/zh-CN/{path.name}")
    figures = ROOT / "notebooks" / "figures"
    if figures.is_dir():
        shutil.copytree(figures, args.out / "figures", dirs_exist_ok=True)
        print(f"copied {len(list(figures.glob('*')))} diagrams to {args.out.name}/figures/")


if __name__ == "__main__":
    main()
