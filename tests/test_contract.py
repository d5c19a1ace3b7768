"""The notebook contract (CONTRIBUTING.md): checked on the stored notebooks, no kernel needed."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from conftest import ROOT
from notebook_harness import fingerprint, notebooks, text_outputs

NOTEBOOKS = notebooks()
IDS = [p.stem for p in NOTEBOOKS]
MACHINE_PATH = re.compile(r"(/home/|/Users/|/root/|/tmp/|/work/|/private/var/|[A-Z]:\\\\|site-packages)")


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def nb(request):
    return request.param.stem, nbformat.read(request.param, as_version=4)


def code_cells(notebook):
    return [c for c in notebook.cells if c.cell_type == "code"]


def test_there_are_notebooks():
    assert [p.stem[:2] for p in NOTEBOOKS][:2] == ["00", "01"]


def test_first_code_cell_is_literal_parameters(nb):
    name, notebook = nb
    first = code_cells(notebook)[0]
    assert "parameters" in first.metadata.get("tags", []), f"{name}: tag the first code cell 'parameters'"
    names = set()
    for statement in ast.parse(first.source).body:
        assert isinstance(statement, ast.Assign), f"{name}: parameters cell holds assignments only"
        ast.literal_eval(statement.value)  # raises unless a literal
        names |= {t.id for t in statement.targets}
    assert {"SMOKE", "SEED", "DEVICE"} <= names, f"{name}: parameters {names}"
    assert re.search(r"^SMOKE = False\b", first.source, re.M), "learner mode is the default"


def test_setup_is_called_right_after_parameters(nb):
    name, notebook = nb
    second = code_cells(notebook)[1]
    assert f'rnnlib.setup("{name}"' in second.source and "smoke=SMOKE" in second.source


def test_kernelspec_is_python3(nb):
    name, notebook = nb
    assert notebook.metadata.kernelspec.name == "python3", name


def test_no_error_outputs_stored(nb):
    name, notebook = nb
    errors = [c.source[:60] for c in code_cells(notebook)
              if any(o.output_type == "error" for o in c.outputs)]
    assert not errors, f"{name}: error outputs stored in cells {errors}"


def test_no_machine_paths_in_outputs(nb):
    name, notebook = nb
    for cell in code_cells(notebook):
        text = text_outputs(cell)
        match = MACHINE_PATH.search(text)
        assert not match, f"{name}: a machine path in the output of {cell.source[:50]!r}: {match[0]}"


def stale_parts(notebook) -> list[str]:
    """What changed since the outputs were stored: "code", "rnnlib", "data" (empty: fresh)."""
    stored = notebook.metadata.get("rnnlib", {}).get("outputs", {}).get("fingerprint", {})
    now = fingerprint(notebook)
    return [part for part in now if stored.get(part) != now[part]]


WHAT = {"code": "its code cells", "rnnlib": "the rnnlib sources it runs", "data": "the data"}


def test_outputs_are_fresh_learner_mode_runs(nb):
    name, notebook = nb
    refresh = f"`make outputs NOTEBOOK=notebooks/{name}.ipynb`"
    counts = [c.execution_count for c in code_cells(notebook)]
    assert counts == list(range(1, len(counts) + 1)), \
        f"{name}: not executed top to bottom in one fresh kernel (counts {counts}); run {refresh}"
    made = notebook.metadata.get("rnnlib", {}).get("outputs", {})
    assert made.get("mode") == "learner", \
        f"{name}: its stored outputs are not a learner-mode run ({made.get('mode')}); run {refresh}"
    assert {"machine", "torch", "date"} <= made.keys(), f"{name}: {made}"
    stale = stale_parts(notebook)
    assert not stale, (f"{name}: {' and '.join(WHAT[p] for p in stale)} changed since its "
                       f"outputs were stored; run {refresh}")


def test_editing_one_code_cell_makes_the_outputs_stale():
    notebook = nbformat.read(notebooks()[2], as_version=4)
    assert stale_parts(notebook) == []
    cell = next(c for c in notebook.cells if c.cell_type == "code" and "parameters" not in
                c.metadata.get("tags", []))
    cell.source += "\nprint('edited')"
    assert stale_parts(notebook) == ["code"]


def test_editing_an_rnnlib_source_a_notebook_runs_makes_it_stale(monkeypatch):
    import notebook_harness

    notebook = nbformat.read(notebooks()[2], as_version=4)  # 02 runs rnnlib.scratch
    sources = notebook_harness.rnnlib_sources(notebook)
    assert ROOT / "rnnlib" / "scratch.py" in sources
    assert ROOT / "rnnlib" / "seq2seq.py" not in sources  # 02 runs no encoder-decoder
    original = Path.read_bytes

    def edited(path):
        return original(path) + (b"# edited" if path.name == "scratch.py" else b"")

    monkeypatch.setattr(Path, "read_bytes", edited)
    assert stale_parts(notebook) == ["rnnlib"]


def test_objectives_at_top_recap_at_bottom(nb):
    name, notebook = nb
    first, last = notebook.cells[0], notebook.cells[-1]
    assert first.cell_type == "markdown" and "In this notebook you will" in first.source, name
    assert re.search(r"\d+\s*(-|–)?\s*\d*\s*minutes", first.source), f"{name}: say the time"
    assert last.cell_type == "markdown" and re.search(r"where next", last.source, re.I), name
    assert re.search(r"recap", last.source, re.I), name


def test_exercises_have_stub_solution_and_check(nb):
    name, notebook = nb
    cells = notebook.cells
    exercises = [i for i, c in enumerate(cells) if "exercise" in c.metadata.get("tags", [])]
    assert 2 <= len(exercises) <= 4, f"{name}: {len(exercises)} exercises, want 2-4"
    for previous, i in zip([0, *exercises], exercises, strict=False):
        # its title, after the previous exercise (a figure or a cell may sit between)
        assert any(re.search(r"^### Exercise \d+", c.source, re.M) for c in cells[previous + 1:i]
                   if c.cell_type == "markdown"), f"{name}: title before exercise {i}"
        assert any("<summary>Hint</summary>" in c.source for c in cells[previous + 1:i]
                   if c.cell_type == "markdown"), f"{name}: hint for exercise {i}"
        solution, check = cells[i + 1], cells[i + 2]
        assert "solution" in solution.metadata.get("tags", []), f"{name}: solution after exercise {i}"
        assert solution.metadata.get("jupyter", {}).get("source_hidden") is True, \
            f"{name}: solutions start collapsed"
        assert "check" in check.metadata.get("tags", []) and "checks." in check.source, \
            f"{name}: a self-check after the solution of exercise {i}"


def test_training_notebooks_end_with_a_report(nb):
    name, notebook = nb
    from test_notebooks import REPORTED

    if name in REPORTED:
        assert any("rnnlib.report(" in c.source for c in code_cells(notebook)), name


def test_ruff_passes_on_code_and_notebooks():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", str(ROOT)],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")


def test_markdown_images_exist_have_alt_text_and_are_valid_svg(nb):
    """Diagrams are SVG files beside the notebooks, shown from markdown (GitHub, JupyterLab,
    Binder and the student copies render them), each with alt text for a reader who cannot
    see it."""
    import xml.etree.ElementTree as ElementTree

    name, notebook = nb
    for cell in notebook.cells:
        if cell.cell_type != "markdown":
            continue
        for alt, src in IMAGE.findall(cell.source):
            assert not src.startswith(("http:", "https:", "/")), \
                f"{name}: image {src} must be a file of the course, by a relative path"
            assert len(alt.split()) >= 6, f"{name}: image {src} needs alt text that describes it"
            assert "[" not in alt, f"{name}: image {src}: no brackets in alt text (they end it)"
            path = ROOT / "notebooks" / src
            assert path.is_file(), f"{name}: image {src} does not exist"
            assert path.suffix == ".svg", f"{name}: image {src}: diagrams are SVG files"
            root = ElementTree.parse(path).getroot()
            assert root.tag.endswith("svg") and root.get("viewBox"), \
                f"{src}: an <svg> with a viewBox, so that it scales"
            assert not MACHINE_PATH.search(path.read_text()), f"{src} holds a machine path"


def test_every_diagram_file_is_shown_by_a_notebook():
    shown = {src for p in NOTEBOOKS for cell in nbformat.read(p, as_version=4).cells
             if cell.cell_type == "markdown" for _, src in IMAGE.findall(cell.source)}
    files = {f"figures/{p.name}" for p in (ROOT / "notebooks" / "figures").glob("*")}
    assert files <= shown, f"diagrams no notebook shows: {sorted(files - shown)}"


def test_exercises_are_numbered_in_order(nb):
    name, notebook = nb
    numbers = [int(n) for c in notebook.cells if c.cell_type == "markdown"
               for n in re.findall(r"^### Exercise (\d+)", c.source, re.M)]
    assert numbers == list(range(1, len(numbers) + 1)), f"{name}: exercises numbered {numbers}"
