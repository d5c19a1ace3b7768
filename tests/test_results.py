"""results/, the README and the notebooks agree: the README's results section is generated from
results/learner-mode.json, and the figures there are those the notebooks' stored outputs show."""

from __future__ import annotations

import importlib.util
import json
import math
import re
from pathlib import Path

import nbformat
import pytest
from notebook_harness import ROOT

RESULTS = ROOT / "results" / "learner-mode.json"
REFRESH = "run `make results` (and `make outputs` for the notebooks) on one machine"


def _run_results():
    spec = importlib.util.spec_from_file_location("run_results", ROOT / "scripts" / "run_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _results() -> dict:
    return json.loads(RESULTS.read_text())


def test_readme_results_section_is_the_one_generated_from_results():
    run_results = _run_results()
    readme = (ROOT / "README.md").read_text()
    assert run_results.BEGIN in readme and run_results.END in readme
    stored = run_results.BEGIN + readme.split(run_results.BEGIN, 1)[1].split(run_results.END)[0] \
        + run_results.END
    assert stored == run_results.readme_section(_results()), \
        "README.md's results section is not the one results/ gives: run " \
        "`python scripts/run_results.py --readme`"


def test_readme_section_names_the_machine_and_fails_clearly_on_a_missing_figure():
    run_results = _run_results()
    results = _results()
    assert results["machine"] in run_results.readme_section(results)
    broken = json.loads(json.dumps(results))
    for record in broken["notebooks"]:
        record["figures"].pop("sunspots_ar_rmse", None)
    with pytest.raises(SystemExit, match="09-beyond reported no 'sunspots_ar_rmse'"):
        run_results.readme_section(broken)


def _stored_report(path: Path) -> dict[str, float]:
    """The figures a notebook's stored results cell shows (``rnnlib.report``'s table)."""
    nb = nbformat.read(path, as_version=4)
    figures: dict[str, float] = {}
    for cell in nb.cells:
        if cell.cell_type == "code" and "rnnlib.report(" in cell.source:
            text = "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")
            figures.update({name: float(value) for name, value in
                            re.findall(r"^(\w+)\s+(-?[\d.]+(?:e[-+]?\d+)?)$", text, re.M)})
    return figures


@pytest.mark.parametrize("record", _results()["notebooks"], ids=lambda r: r["notebook"])
def test_results_figures_are_what_the_stored_outputs_show(record):
    assert record["ok"], f"{record['notebook']} failed in the recorded learner-mode run"
    stored = _stored_report(ROOT / "notebooks" / f"{record['notebook']}.ipynb")
    for name, value in record["figures"].items():
        assert name in stored, f"{record['notebook']}'s stored outputs do not show {name}: {REFRESH}"
        # the table prints 4 significant digits; two runs on one machine agree far closer
        assert math.isclose(stored[name], value, rel_tol=2e-3, abs_tol=1e-9), \
            f"{record['notebook']}: results/ has {name} = {value:.4g}, the stored outputs " \
            f"show {stored[name]:.4g}: {REFRESH}"


def test_refresh_of_a_failing_notebook_stores_nothing_and_says_why(tmp_path):
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from refresh_outputs import refresh_all

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell("SMOKE = False", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("raise ValueError('this cell is broken')")]
    path = tmp_path / "broken.ipynb"
    nbformat.write(nb, path)
    before = path.read_bytes()
    [record] = refresh_all([path], timeout=60)
    assert not record["ok"] and "this cell is broken" in record["error"]
    assert path.read_bytes() == before


def test_instructor_timings_are_the_ones_generated_from_the_notebooks_and_results():
    run_results = _run_results()
    guide = (ROOT / "docs" / "instructor.md").read_text()
    begin, end = run_results.TIMINGS_BEGIN, run_results.TIMINGS_END
    stored = begin + guide.split(begin, 1)[1].split(end)[0] + end
    assert stored == run_results.timings_section(_results()), \
        "docs/instructor.md's timings are not the ones results/ gives: run " \
        "`python scripts/run_results.py --readme`"


def _stated_minutes(table: str) -> dict[str, int]:
    """Learning times of a markdown table whose rows start `| NN | ...` and hold `N min`."""
    return {row[0]: int(row[1]) for row in
            re.findall(r"^\| (\d\d) \|.*?\| (\d+) min \|", table, re.M)}


def test_learning_times_in_readme_and_notebook_00_are_those_the_notebooks_state():
    run_results = _run_results()
    stated = {p.stem[:2]: run_results.learner_minutes(p)
              for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))}
    readme = _stated_minutes((ROOT / "README.md").read_text())
    welcome = _stated_minutes("\n".join(c.source for c in nbformat.read(
        ROOT / "notebooks" / "00-welcome.ipynb", as_version=4).cells if c.cell_type == "markdown"))
    assert readme == stated, f"README's learning times {readme} differ from the notebooks' {stated}"
    assert welcome == stated, f"00's map {welcome} differs from the notebooks' {stated}"
