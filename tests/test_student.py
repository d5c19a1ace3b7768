"""Student copies (`make student`): solutions gone, and every self-check says what to do."""

import re
import sys

import nbformat
import pytest
from conftest import ROOT
from notebook_harness import code_tokens, notebooks, run_allowing_errors

sys.path.insert(0, str(ROOT / "scripts"))
from make_student import student_copy  # noqa: E402

NOTEBOOKS = notebooks()
IDS = [p.stem for p in NOTEBOOKS]


def tagged(nb, tag):
    return [c for c in nb.cells if tag in c.metadata.get("tags", [])]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_source_self_checks_pass_on_the_solutions(path):
    nb = nbformat.read(path, as_version=4)
    for cell in tagged(nb, "check"):
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert text.startswith("\N{CHECK MARK}"), f"{path.stem}: {cell.source!r} printed {text!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_copy_runs_to_the_end_with_every_exercise_undone(path):
    """Run All never stops at an exercise: each check says in one line that the exercise is not
    written yet and binds the course's reference, and every later cell runs on it."""
    student = run_allowing_errors(student_copy(nbformat.read(path, as_version=4)),
                                  cwd=path.parent, strict=False)
    errors = [(c.source[:60], o.ename, o.evalue[:200]) for c in student.cells
              if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, f"{path.stem}: the student copy stopped: {errors}"
    for cell in tagged(student, "check"):
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        assert "not written yet" in text and text.count("\n") == 1, \
            f"{path.stem}: {cell.source!r} printed {text!r}"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_student_copy_self_checks_fail_helpfully_on_the_stubs(path, tmp_path):
    """With RNNLIB_STRICT_CHECKS=1 (graders) each check raises on its stub, saying what to do."""
    source = nbformat.read(path, as_version=4)
    student = student_copy(source)
    assert not tagged(student, "solution")
    assert len(tagged(student, "exercise")) == len(tagged(source, "exercise"))
    run_allowing_errors(student, cwd=path.parent)
    for cell in tagged(student, "check"):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert errors, f"{path.stem}: {cell.source!r} passed on the untouched stub"
        assert errors[0].ename == "CheckFailed", f"{path.stem}: {errors[0].ename}: {errors[0].evalue}"
        assert len(errors[0].evalue) > 40, f"not a helpful message: {errors[0].evalue!r}"


def test_make_student_writes_every_notebook_and_the_diagrams_they_show(tmp_path):
    import subprocess

    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_student.py"), "--out",
                    str(tmp_path)], check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in (ROOT / "notebooks" / "figures").glob("*.svg"):
        assert (tmp_path / "figures" / path.name).read_bytes() == path.read_bytes()
    # The Chinese copies: the same cells as the English copies, prose and comments aside, and
    # their ../figures/ links find the diagrams copied above.
    assert sorted(p.name for p in (tmp_path / "zh-CN").glob("*.ipynb")) == [p.name for p in NOTEBOOKS]
    for path in NOTEBOOKS:
        english = nbformat.read(tmp_path / path.name, as_version=4)
        chinese = nbformat.read(tmp_path / "zh-CN" / path.name, as_version=4)
        def cells(nb):
            return [(c.cell_type, code_tokens(c.source) if c.cell_type == "code" else c.id)
                    for c in nb.cells]
        assert cells(english) == cells(chinese), f"zh-CN/{path.name}: not the English cells"
        for target in re.findall(r"\]\((\.\./figures/[^)\s]+)\)",
                                 "".join(c.source for c in chinese.cells)):
            assert (tmp_path / "zh-CN" / target).is_file(), f"zh-CN/{path.name}: {target}"
