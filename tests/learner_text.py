"""What a learner reads in a notebook speaks about the subject, never about the course's machinery.

The pages a learner reads (markdown, code comments and strings, solutions and hints included)
must not speak of run modes, time budgets, goals or promises, ``make`` targets, the test
harness's environment variables, or what "the text below" says: those guards live in
``tests/`` (claims.py). The parameters cell may keep one comment on ``SMOKE``.
"""

from __future__ import annotations

import io
import re
import tokenize

import nbformat

HARNESS = [
    (re.compile(r"\bsmoke\b", re.I), "a run mode ('smoke')"),
    (re.compile(r"\blearner[- ]mode\b|\blearner run\b", re.I), "a run mode ('learner mode')"),
    (re.compile(r"\bmake (?:results|outputs|test|student|lab|data)\b"), "a make target"),
    (re.compile(r"\bRNNLIB_[A-Z_]+"), "an environment variable of the harness"),
    (re.compile(r"\b(?:prose|paragraph|sentence)s? (?:below|above|after|before)\b|"
                r"\btext (?:below|above)\b|\bthe text after the\b|"
                r"\bwhat the (?:text|prose|next paragraph)\b", re.I), "the text itself"),
    (re.compile(r"\b(?:printed|asserted) (?:above|below|beside|earlier)\b|\(asserted\b|"
                r"\basserted in\b|\bthe printed (?:count|value|figure|number|means?)\b", re.I),
     "a pointer to a printed figure instead of the figure"),
    (re.compile(r"\bpromis\w*\b", re.I), "a promise"),
    (re.compile(r"\bthe course's budget\b|\bminutes per notebook\b|\bbudget of (?:three|3) "
                r"minutes\b", re.I), "a time budget"),
    (re.compile(r"\bgoals?\b", re.I), "a goal"),
]


def code_text(source: str) -> list[str]:
    """The comments and string literals of a code cell: the words a learner reads in it."""
    pieces = []
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type in (tokenize.COMMENT, tokenize.STRING):
                pieces.append(token.string)
            elif token.type == getattr(tokenize, "FSTRING_MIDDLE", -1):
                pieces.append(token.string)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pieces.append(source)  # magics or broken code: read all of it
    return pieces


def harness_language(nb: nbformat.NotebookNode) -> list[str]:
    """Every passage of a notebook that speaks about the harness, as 'cell N: what: quote'."""
    found = []
    first_code = next((i for i, c in enumerate(nb.cells) if c.cell_type == "code"), None)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            texts = [cell.source]
        elif cell.cell_type == "code":
            texts = code_text(cell.source)
            if i == first_code:  # the parameters cell: one comment on SMOKE is allowed
                texts = [t for t in texts if not _smoke_comment(cell.source, t)]
        else:
            continue
        for text in texts:
            for pattern, what in HARNESS:
                m = pattern.search(text)
                if m:
                    quote = text[max(0, m.start() - 40):m.end() + 40].replace("\n", " ")
                    found.append(f"cell {i}: {what}: ...{quote}...")
    return found


def _smoke_comment(source: str, comment: str) -> bool:
    """The comment on the parameters cell's SMOKE line."""
    return any(line.lstrip().startswith("SMOKE") and line.rstrip().endswith(comment)
               for line in source.splitlines())
