"""Claims: the guard that keeps each sentence of a notebook's prose true, kept out of its pages.

A notebook's prose states the figures it discusses ("validation falls below the unigram
baseline at step 100, 2.21 against 3.29 nats"). ``tests/claims/NN-topic.toml`` ties every such
sentence to what the notebook's stored learner-mode run printed or reported:

    [[claim]]
    says = "falls below the unigram baseline at step 100 (2.21 against 3.29 nats)"
    figures.step = { cell = "first_below =", pattern = 'first below it at step (\\d+)' }
    figures.val = { report = "rnn_char_val_loss_nats" }
    figures.base = { cell = "unigram =", pattern = 'unigram baseline: ([\\d.]+) nats' }
    quotes = ["{step:.0f}", "{val:.2f}", "{base:.2f}"]
    holds = "val < base"

- ``says``: a passage of one markdown cell (spaces and line breaks are compared collapsed).
- ``figures``: each name read from the stored outputs. ``cell`` is a piece of the source of
  exactly one code cell, ``pattern`` a regular expression searched in that cell's text outputs
  (its first group that matched is the figure; ``all = true`` gives the list of every match);
  ``report`` is a key the notebook passed to ``rnnlib.report`` (recorded in its metadata by
  ``make outputs``); ``notebook = "08-char-lm"`` reads another notebook. A figure that reads as
  a number is a float.
- ``quotes``: format strings; each, filled in with the figures, must occur in ``says``.
- ``holds``: a Python expression over the figures that must be true (comparisons the
  sentence makes in words: "below", "every seed", "about twice").

Every number with a decimal point or a per cent sign that the prose of a notebook shows (outside
maths, code and links) must be quoted by a claim, appear in a code cell's source (a setting), or
be listed under ``[not_measured]`` with what it is (``"1.15" = "sqrt(4/3), arithmetic"``). Whole
numbers ("step 100") are not found automatically: give them a claim all the same.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import nbformat
from notebook_harness import NOTEBOOK_DIR, ROOT, text_outputs

CLAIMS_DIR = ROOT / "tests" / "claims"
SAFE_BUILTINS = {"abs": abs, "all": all, "any": any, "len": len, "max": max, "min": min,
                 "sum": sum, "round": round, "sorted": sorted, "zip": zip, "range": range,
                 "float": float, "int": int}
# What the prose shows that is not a figure: maths, code, links, images, HTML tags.
_HIDDEN = [re.compile(p, re.S) for p in (
    r"\$\$.*?\$\$", r"(?<!\\)\$[^$\n]+?(?<!\\)\$", r"```.*?```", r"`[^`\n]*`",
    r"!\[[^\]]*\]\([^)]*\)", r"\]\([^)]*\)", r"<[^>\n]+>", r"https?://\S+")]
# A decimal (1.706, .5, 0.00052, 4.3e-3) or a percentage (92%, 92 %, 97.9%).
NUMBER = re.compile(r"(?<![\w.\-])(\d+(?:\.\d+)?\s?%|\d*\.\d+(?:e-?\d+)?)(?![\w.]*\w)")


class ClaimFailed(AssertionError):
    """A sentence of the prose no longer agrees with the stored outputs."""


@dataclass
class Claim:
    notebook: str
    says: str
    figures: dict
    quotes: list[str]
    holds: str | None


def collapse(text: str) -> str:
    return " ".join(text.split())


@functools.cache
def _read(stem: str, directory: Path = NOTEBOOK_DIR) -> nbformat.NotebookNode:
    return nbformat.read(directory / f"{stem}.ipynb", as_version=4)


def claims_file(stem: str) -> Path:
    return CLAIMS_DIR / f"{stem}.toml"


def load(stem: str) -> tuple[list[Claim], dict[str, str]]:
    """The claims of one notebook and its ``[not_measured]`` numbers."""
    path = claims_file(stem)
    if not path.exists():
        return [], {}
    spec = tomllib.loads(path.read_text(encoding="utf-8"))
    unknown = set(spec) - {"claim", "not_measured"}
    if unknown:
        raise ValueError(f"{path.name}: unknown tables {sorted(unknown)}")
    claims = []
    for entry in spec.get("claim", []):
        extra = set(entry) - {"says", "figures", "quotes", "holds"}
        if extra or "says" not in entry:
            raise ValueError(f"{path.name}: a claim needs 'says' and may have figures, quotes, "
                             f"holds; got {sorted(entry)}")
        claims.append(Claim(stem, entry["says"], entry.get("figures", {}),
                            entry.get("quotes", []), entry.get("holds")))
    return claims, {str(k): str(v) for k, v in spec.get("not_measured", {}).items()}


def _as_value(text: str):
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return text


def figure(claim: Claim, name: str, notebook: nbformat.NotebookNode) -> object:
    """Read one figure of a claim from the stored outputs."""
    source = claim.figures[name]
    where = f"{claim.notebook}: claim {claim.says[:70]!r}, figure {name!r}"
    if "notebook" in source:
        notebook = _read(source["notebook"])
    if "report" in source:
        reported = notebook.metadata.get("rnnlib", {}).get("outputs", {}).get("figures", {})
        if source["report"] not in reported:
            raise ClaimFailed(f"{where}: {source['report']!r} is not among the reported figures "
                              f"of the stored run ({sorted(reported)})")
        return reported[source["report"]]
    piece, pattern = source.get("cell"), source.get("pattern")
    if not piece or not pattern:
        raise ValueError(f"{where}: a figure needs report = KEY, or cell = ... and pattern = ...")
    cells = [c for c in notebook.cells if c.cell_type == "code" and piece in c.source]
    if len(cells) != 1:
        raise ClaimFailed(f"{where}: {len(cells)} code cells contain {piece!r}, expected one")
    text = text_outputs(cells[0])
    matches = [next((g for g in m.groups() if g is not None), m.group(0)) if m.groups()
               else m.group(0) for m in re.finditer(pattern, text)]
    if not matches:
        raise ClaimFailed(f"{where}: {pattern!r} not found in the stored output of the cell "
                          f"with {piece!r}:\n{text[:600]}")
    if source.get("all"):
        return [_as_value(m) for m in matches]
    return _as_value(matches[0])


def markdown_cells(notebook: nbformat.NotebookNode) -> list[str]:
    return [collapse(c.source) for c in notebook.cells if c.cell_type == "markdown"]


def check(claim: Claim, notebook: nbformat.NotebookNode | None = None) -> None:
    """Raise ClaimFailed, naming the sentence, when the stored outputs do not bear it out."""
    notebook = notebook if notebook is not None else _read(claim.notebook)
    says = collapse(claim.says)
    head = f"{claim.notebook}: the sentence {says!r}"
    if not any(says in cell for cell in markdown_cells(notebook)):
        raise ClaimFailed(f"{head} is not in the notebook's prose any more: update the claim "
                          f"in {claims_file(claim.notebook).relative_to(ROOT)}")
    values = {name: figure(claim, name, notebook) for name in claim.figures}
    for template in claim.quotes:
        try:
            quoted = template.format(**values)
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{head}: quote {template!r} cannot be filled in: {e!r}") from None
        if quoted not in says:
            raise ClaimFailed(f"{head} should say {quoted!r} ({template} with {values}): the "
                              "stored run printed another figure; rewrite the sentence")
    if claim.holds:
        try:
            ok = eval(claim.holds, {"__builtins__": SAFE_BUILTINS}, dict(values))  # noqa: S307
        except Exception as e:  # a malformed expression is the claim's own bug
            raise ValueError(f"{head}: holds {claim.holds!r} failed to evaluate: {e!r}") from None
        if not ok:
            raise ClaimFailed(f"{head} no longer holds: {claim.holds} is false for {values}")


def shown_numbers(markdown: str) -> list[tuple[int, int, str]]:
    """(start, end, text) of each decimal or percentage the prose shows, maths and code aside."""
    visible = markdown
    for pattern in _HIDDEN:
        visible = pattern.sub(lambda m: " " * len(m.group(0)), visible)
    return [(m.start(), m.end(), m.group(1)) for m in NUMBER.finditer(visible)]


def settings(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(c.source for c in notebook.cells if c.cell_type == "code")


def uncovered_numbers(stem: str, notebook: nbformat.NotebookNode | None = None) -> list[str]:
    """The numbers in the prose that no claim, setting or ``[not_measured]`` entry accounts for."""
    notebook = notebook if notebook is not None else _read(stem)
    claims, not_measured = load(stem)
    code = settings(notebook)
    missing = []
    for cell in markdown_cells(notebook):
        spans = []
        for claim in claims:
            says = collapse(claim.says)
            start = cell.find(says)
            while start >= 0:
                spans.append((start, start + len(says), claim))
                start = cell.find(says, start + 1)
        for start, end, number in shown_numbers(cell):
            bare = number.replace(" ", "")
            if bare in not_measured or number in not_measured or re.search(
                    rf"(?<![\w.]){re.escape(bare.rstrip('%'))}(?![\w.]*\d)", code):
                continue
            covering = [c for s, e, c in spans if s <= start and end <= e]
            if any(_quotes_number(c, bare, notebook) for c in covering):
                continue
            context = cell[max(0, start - 50):end + 30]
            missing.append(f"{number!r} in ...{context}...")
    return missing


def _quotes_number(claim: Claim, number: str, notebook: nbformat.NotebookNode) -> bool:
    try:
        values = {name: figure(claim, name, notebook) for name in claim.figures}
        filled = [t.format(**values) for t in claim.quotes]
    except (ClaimFailed, KeyError, ValueError, TypeError):
        return False
    return any(number in q.replace(" ", "") for q in filled)


def notebooks_with_claims() -> list[str]:
    return sorted(p.stem for p in CLAIMS_DIR.glob("*.toml"))
