"""Every figure the prose quotes agrees with the stored learner-mode run (tests/claims.py), and
no page a learner reads speaks about the course's machinery (tests/learner_text.py)."""

from __future__ import annotations

import copy
import re

import nbformat
import pytest
from claims import Claim, ClaimFailed, check, collapse, load, uncovered_numbers
from learner_text import harness_language
from notebook_harness import notebooks

NOTEBOOKS = notebooks()
IDS = [p.stem for p in NOTEBOOKS]


@pytest.fixture(params=NOTEBOOKS, ids=IDS)
def stored(request):
    return request.param.stem, nbformat.read(request.param, as_version=4)


def test_every_claim_holds_on_the_stored_run(stored):
    stem, nb = stored
    claims, _ = load(stem)
    failures = []
    for claim in claims:
        try:
            check(claim, nb)
        except ClaimFailed as e:
            failures.append(str(e))
    assert not failures, "\n\n".join(failures)


def test_every_figure_in_the_prose_is_claimed(stored):
    stem, nb = stored
    missing = uncovered_numbers(stem, nb)
    assert not missing, (f"{stem}: numbers in the prose with no claim in tests/claims/{stem}.toml "
                         "(quote them from a claim, or list them under [not_measured]):\n"
                         + "\n".join(missing))


def test_no_learner_visible_harness_language(stored):
    stem, nb = stored
    found = harness_language(nb)
    assert not found, f"{stem}: the course's machinery in the learner's pages:\n" + "\n".join(found)


def test_no_learner_mode_asserts_in_notebooks(stored):
    """Guards of the prose live in tests/claims, not in `if not SMOKE:` blocks a learner reads."""
    stem, nb = stored
    guarded = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
               and re.search(r"^[ \t]*if not SMOKE\b[^\n]*\n(?:[ \t]+[^\n]*\n)*?[ \t]+assert\b",
                             c.source + "\n", re.M)]
    assert not guarded, f"{stem}: cells {guarded} assert only outside smoke runs"


# -- The mechanism itself ------------------------------------------------------------------

def test_the_learner_mode_assert_finder_sees_a_commented_guard():
    cell = nbformat.v4.new_code_cell("x = 1\nif not SMOKE:  # a comment\n    y = 2\n    assert x < y")
    nb = nbformat.v4.new_notebook()
    nb.cells = [cell]
    with pytest.raises(AssertionError, match="assert only outside smoke runs"):
        test_no_learner_mode_asserts_in_notebooks(("tiny", nb))


def tiny_notebook(printed: str, prose: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("loss = train()\nprint(f'validation loss {loss:.3f}')")
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text=printed)]
    nb.cells = [code, nbformat.v4.new_markdown_cell(prose)]
    nb.metadata["rnnlib"] = {"outputs": {"figures": {"val_loss": 1.706}}}
    return nb


CLAIM = Claim("tiny", says="validation ends at 1.71 nats, below the 3.29 of the unigram model",
              figures={"val": {"cell": "train()", "pattern": r"validation loss ([\d.]+)"},
                       "reported": {"report": "val_loss"}},
              quotes=["{val:.2f}", "{reported:.2f}"], holds="val < 3.29")
PROSE = "After training, validation ends at 1.71 nats, below the 3.29 of the unigram model."


def test_a_claim_passes_when_the_prose_quotes_the_stored_figure():
    check(CLAIM, tiny_notebook("validation loss 1.706\n", PROSE))


def test_a_claim_fails_naming_its_sentence_when_the_stored_figure_changes():
    with pytest.raises(ClaimFailed, match="validation ends at 1.71 nats.*should say '1.81'"):
        check(CLAIM, tiny_notebook("validation loss 1.806\n", PROSE))


def test_a_claim_fails_when_its_comparison_no_longer_holds():
    claim = copy.copy(CLAIM)
    claim.holds = "val < 1.5"
    with pytest.raises(ClaimFailed, match="no longer holds"):
        check(claim, tiny_notebook("validation loss 1.706\n", PROSE))


def test_a_claim_fails_when_its_sentence_is_gone():
    with pytest.raises(ClaimFailed, match="not in the notebook's prose"):
        check(CLAIM, tiny_notebook("validation loss 1.706\n", "Validation ends lower."))


def test_a_number_in_the_prose_without_a_claim_is_found(tmp_path, monkeypatch):
    import claims

    monkeypatch.setattr(claims, "CLAIMS_DIR", tmp_path)
    (tmp_path / "tiny.toml").write_text('[not_measured]\n"3.29" = "the unigram figure of 02"\n')
    nb = tiny_notebook("validation loss 1.706\n", PROSE + " Accuracy was 92%, see $x = 0.5$.")
    missing = uncovered_numbers("tiny", nb)
    assert [m.split(" in ")[0] for m in missing] == ["'1.71'", "'92%'"]


def _reads_printed_figures(stem: str) -> bool:
    return any("cell" in f and "notebook" not in f and c.quotes
               for c in load(stem)[0] for f in c.figures.values())


@pytest.mark.parametrize("stem", [p.stem for p in NOTEBOOKS if _reads_printed_figures(p.stem)])
def test_altering_a_stored_figure_breaks_the_claim_that_quotes_it(stem):
    """On the real notebooks: change the first printed figure a claim reads, see it fail."""
    nb = nbformat.read(next(p for p in NOTEBOOKS if p.stem == stem), as_version=4)
    claims, _ = load(stem)
    for claim in claims:
        cell_figures = {n: f for n, f in claim.figures.items()
                        if "cell" in f and "notebook" not in f and claim.quotes}
        if not cell_figures:
            continue
        name, source = next(iter(cell_figures.items()))
        altered = copy.deepcopy(nb)
        cell = next(c for c in altered.cells if c.cell_type == "code" and source["cell"] in c.source)
        changed = False
        for output in cell.outputs:
            text = output.get("text") or output.get("data", {}).get("text/plain")
            if not text:
                continue
            m = re.search(source["pattern"], text)
            if m and m.groups() and re.fullmatch(r"[\d.]+", m.group(1)):
                digits = m.group(1)
                new = digits[:-1] + str((int(digits[-1]) + 5) % 10)
                new = str(float(new) * 3 + 7) if "." in digits else str(int(new) * 3 + 7)
                patched = text[:m.start(1)] + new + text[m.end(1):]
                if "text" in output:
                    output["text"] = patched
                else:
                    output["data"]["text/plain"] = patched
                changed = True
                break
        if not changed:
            continue
        with pytest.raises(ClaimFailed, match=re.escape(repr(collapse(claim.says))[:30])):
            check(claim, altered)
        return
    pytest.fail(f"{stem}: no claim's printed figure could be altered to test the check")
