"""The Chinese edition (中文版): generated from the English notebooks and a translation store.

    python scripts/zh.py build [NN ...]    # make zh: write notebooks/zh-CN/NN-topic.ipynb
    python scripts/zh.py skeleton NN       # add NN's untranslated cells and comments to its store
    python scripts/zh.py status            # what is missing or stale, notebook by notebook
    python scripts/zh.py glossary          # write notebooks/zh-CN/GLOSSARY.md from glossary.toml

The English notebooks are the only place code is written. A Chinese notebook is its English
notebook with each markdown cell replaced by its translation from
``notebooks/zh-CN/translations/NN-topic.md``, and each code comment by its translation from
``NN-topic.comments.toml`` beside it; the code itself and the outputs are the English ones.
Each translation is keyed to its English cell by the cell's id and a hash of the English text
it translates::

    <!-- cell 3b393a87 sha 5f0c2d9e1a7b -->
    中文译文……

    <!-- cell 9e1f00aa sha 0c4d8e2f6b13 allow 合并门 -->
    A header may ``allow`` a form the glossary bans, where the text shows the mistake itself.

    <!-- cell 41d2c6b0 sha 77a0e3c1d9f2 todo -->
    An entry marked ``todo`` still holds the English text; ``build`` refuses it.

When an English markdown cell changes, its hash no longer matches: ``build`` refuses, naming the
notebook, the cell and the store entry to update, so the two editions cannot drift. ``skeleton``
adds a ``todo`` entry holding the English text for every cell that has none, and changes no
other entry.

A comment's translation is keyed by the English comment itself (after the ``#``), so a code
change that keeps a comment keeps its translation::

    "the first step sees only the input" = "第一步只看到输入"

An empty translation is still to do (``skeleton`` adds one for each new comment); one equal to
the English keeps it (a formula, a name). Linter directives (``# noqa: ...``) and comments with
no letters stay as they are.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import io
import re
import sys
import tokenize
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = ROOT / "notebooks"
CHINESE = ENGLISH / "zh-CN"
STORE = CHINESE / "translations"
GLOSSARY = CHINESE / "glossary.toml"
REGENERATE = "make zh (python scripts/zh.py build)"

_HEADER = re.compile(r"^<!-- cell (?P<id>\S+) sha (?P<sha>[0-9a-f]{12})(?P<todo> todo)?"
                     r"(?: allow (?P<allow>.+?))? -->$", re.MULTILINE)
# Relative targets of markdown links and images, and of HTML src/href attributes.
_LINK = re.compile(r"(?P<pre>\]\(|\b(?:src|href)=[\"'])(?P<target>[^)\"'\s]+)")
_NOTEBOOK_LINK = re.compile(r"^\d\d-[\w-]+\.ipynb(#.*)?$")


_DIRECTIVE = re.compile(r"^(noqa|type:|fmt:|pragma|ruff:)")


class ZhError(Exception):
    """The Chinese edition cannot be generated as it stands; the message lists every reason."""


@dataclass
class Entry:
    cell_id: str
    sha: str
    text: str
    allow: set[str] = field(default_factory=set)
    todo: bool = False  # still the English text, waiting for its translation


def english_sha(source: str) -> str:
    """The key of an English cell's text: 12 hex digits of its SHA-256."""
    return hashlib.sha256(source.encode()).hexdigest()[:12]


def english_notebooks() -> list[Path]:
    return sorted(ENGLISH.glob("[0-9][0-9]-*.ipynb"))


def store_of(english: Path) -> Path:
    return STORE / f"{english.stem}.md"


def chinese_of(english: Path) -> Path:
    return CHINESE / english.name


def comments_store_of(english: Path) -> Path:
    return STORE / f"{english.stem}.comments.toml"


def _comment_tokens(source: str) -> list[tokenize.TokenInfo]:
    return [t for t in tokenize.generate_tokens(io.StringIO(source).readline)
            if t.type == tokenize.COMMENT]


def _split_comment(token: str) -> tuple[str, str]:
    """``"#  text "`` as its marker ``"#  "`` and its text ``"text"``."""
    marker = re.match(r"#+\s*", token).group(0)
    return marker, token[len(marker):].rstrip()


def translatable(text: str) -> bool:
    return bool(re.search(r"[A-Za-z]", text)) and not _DIRECTIVE.match(text)


def english_comments(nb: nbformat.NotebookNode) -> dict[str, int]:
    """Each translatable comment of the notebook's code cells, with the first cell it is in."""
    found: dict[str, int] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            for token in _comment_tokens(cell.source):
                text = _split_comment(token.string)[1]
                if translatable(text):
                    found.setdefault(text, i)
    return found


def read_comments(english: Path) -> dict[str, str]:
    path = comments_store_of(english)
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ZhError(f"{path.relative_to(ROOT)}: {e}") from None


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return f'"{escaped}"'


def format_comments(english: Path, translations: dict[str, str]) -> str:
    lines = [f"# The code comments of {english.name} in Chinese: \"English\" = \"中文\" "
             "(see scripts/zh.py).", ""]
    lines += [f"{_toml_string(en)} = {_toml_string(cn)}" for en, cn in translations.items()]
    return "\n".join(lines) + "\n"


def translate_comments(source: str, translations: dict[str, str]) -> str:
    """``source`` with each translatable comment replaced by its translation."""
    lines = source.split("\n")
    for token in reversed(_comment_tokens(source)):  # from the end: columns stay valid
        marker, text = _split_comment(token.string)
        if translatable(text):
            row, col = token.start[0] - 1, token.start[1]
            line = lines[row]
            lines[row] = line[:col] + marker + translations[text] + line[col + len(token.string):]
    return "\n".join(lines)


def parse_store(text: str) -> list[Entry]:
    """The entries of a translation store, in file order."""
    heads = list(_HEADER.finditer(text))
    if text[: heads[0].start() if heads else len(text)].strip():
        raise ZhError("text before the first <!-- cell ... --> header")
    entries = []
    for head, nxt in zip(heads, heads[1:] + [None], strict=True):
        body = text[head.end(): nxt.start() if nxt else len(text)].strip("\n")
        allow = set((head["allow"] or "").split())
        entries.append(Entry(head["id"], head["sha"], body, allow, bool(head["todo"])))
    return entries


def format_store(entries: list[Entry]) -> str:
    parts = []
    for e in entries:
        flags = (" todo" if e.todo else "") + (f" allow {' '.join(sorted(e.allow))}" if e.allow else "")
        parts.append(f"<!-- cell {e.cell_id} sha {e.sha}{flags} -->\n{e.text}\n")
    return "\n".join(parts)


def read_store(english: Path) -> list[Entry]:
    path = store_of(english)
    if not path.is_file():
        raise ZhError(f"{path.relative_to(ROOT)} is missing: python scripts/zh.py skeleton "
                      f"{english.stem[:2]} starts it")
    try:
        return parse_store(path.read_text(encoding="utf-8"))
    except ZhError as e:
        raise ZhError(f"{path.relative_to(ROOT)}: {e}") from None


def rewrite_links(text: str) -> str:
    """Links as seen from notebooks/zh-CN/: sibling notebooks stay (the Chinese twins), every
    other relative target gains a ``../``."""
    def fix(m: re.Match) -> str:
        target = m["target"]
        if (re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith(("#", "/"))
                or _NOTEBOOK_LINK.match(target)):
            return m.group(0)
        return m["pre"] + "../" + target
    return _LINK.sub(fix, text)


def _shown(path: Path) -> Path:
    """A path as messages name it: relative to the repository when it is inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


def problems(english: Path) -> list[str]:
    """Why the Chinese twin of ``english`` cannot be generated: [] when it can."""
    try:
        entries = read_store(english)
    except ZhError as e:
        return [str(e)]
    nb = nbformat.read(english, as_version=4)
    store = _shown(store_of(english))
    twin = _shown(chinese_of(english))
    by_id: dict[str, Entry] = {}
    found = []
    for e in entries:
        if e.cell_id in by_id:
            found.append(f"{store}: cell {e.cell_id} is translated twice")
        by_id[e.cell_id] = e
    markdown = {c.id: (i, c) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"}
    for cell_id, (i, cell) in markdown.items():
        e = by_id.get(cell_id)
        where = f"{twin} cell {i} (id {cell_id})"
        if e is None:
            found.append(f"{where} has no translation: add it to {store} "
                         f"(python scripts/zh.py skeleton {english.stem[:2]}), then {REGENERATE}")
        elif e.sha != english_sha(cell.source):
            found.append(f"{where}: the English cell changed since it was translated: update the "
                         f"entry 'cell {cell_id} sha {e.sha}' in {store} to the new English text "
                         f"and its sha to {english_sha(cell.source)}, then {REGENERATE}")
        elif e.todo:
            found.append(f"{where} is not translated yet: translate the entry 'cell {cell_id}' in "
                         f"{store} and remove its 'todo', then {REGENERATE}")
    for e in entries:
        if e.cell_id not in markdown:
            found.append(f"{store}: cell {e.cell_id} is not a markdown cell of {english.name} "
                         "any more: remove its entry")
    return found + comment_problems(english, nb)


def comment_problems(english: Path, nb: nbformat.NotebookNode) -> list[str]:
    try:
        translations = read_comments(english)
    except ZhError as e:
        return [str(e)]
    store = _shown(comments_store_of(english))
    twin = _shown(chinese_of(english))
    found = []
    comments = english_comments(nb)
    for text, i in comments.items():
        if text not in translations:
            found.append(f"{twin} cell {i}: the comment \"{text}\" has no translation: add it "
                         f"to {store} (python scripts/zh.py skeleton {english.stem[:2]}), then "
                         f"{REGENERATE}")
        elif not translations[text].strip():
            found.append(f"{twin} cell {i}: the comment \"{text}\" is not translated yet in "
                         f"{store}: translate it, then {REGENERATE}")
    for text in translations:
        if text not in comments:
            found.append(f"{store}: \"{text}\" is not a comment of {english.name} any more: "
                         "remove it")
    return found


def build(english: Path) -> nbformat.NotebookNode:
    """The Chinese twin of ``english``; raises ZhError listing every missing or stale entry."""
    found = problems(english)
    if found:
        raise ZhError("\n".join(found))
    by_id = {e.cell_id: e for e in read_store(english)}
    comments = read_comments(english)
    nb = nbformat.read(english, as_version=4)
    twin = copy.deepcopy(nb)
    for cell in twin.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite_links(by_id[cell.id].text)
        elif cell.cell_type == "code":
            cell.source = translate_comments(cell.source, comments)
    twin.metadata.pop("rnnlib", None)  # the stored-output fingerprint belongs to the English
    return twin


def rendered(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def drift(english: Path) -> list[str]:
    """How the committed Chinese twin differs from what ``build`` makes now: [] when it does
    not (a hand edit, a changed English code cell or output, a translation not yet built)."""
    path = chinese_of(english)
    name = _shown(path)
    if not path.is_file():
        return [f"{name} is missing: {REGENERATE}"]
    committed = nbformat.read(path, as_version=4)
    generated = build(english)
    if len(committed.cells) != len(generated.cells):
        return [f"{name} has {len(committed.cells)} cells, {english.name} {len(generated.cells)}: "
                f"{REGENERATE}"]
    found = [f"{name} cell {i} ({a.cell_type}, id {a.get('id')}) is not what {REGENERATE} makes "
             f"from {english.name} and its translation: never edit a Chinese notebook by hand"
             for i, (a, b) in enumerate(zip(committed.cells, generated.cells, strict=True)) if a != b]
    if committed.metadata != generated.metadata:
        found.append(f"{name}: its metadata is not {english.name}'s: {REGENERATE}")
    return found


def write(english: Path) -> Path:
    out = chinese_of(english)
    out.write_text(rendered(build(english)), encoding="utf-8")
    return out


def skeleton(english: Path) -> int:
    """Add an entry holding the English text for every markdown cell with no entry; returns how
    many were added. Existing entries (stale ones too) are kept, in the notebook's order."""
    path = store_of(english)
    entries = read_store(english) if path.exists() else []
    by_id = {e.cell_id: e for e in entries}
    nb = nbformat.read(english, as_version=4)
    ordered, added = [], 0
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        if cell.id in by_id:
            ordered.append(by_id.pop(cell.id))
        else:
            ordered.append(Entry(cell.id, english_sha(cell.source), cell.source, todo=True))
            added += 1
    ordered.extend(by_id.values())  # orphans stay until someone removes them
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_store(ordered), encoding="utf-8")
    translations = read_comments(english)
    merged = {text: translations.pop(text, "") for text in english_comments(nb)}
    added += sum(not cn for cn in merged.values())
    merged.update(translations)  # orphans stay here too
    comments_store_of(english).write_text(format_comments(english, merged), encoding="utf-8")
    return added


def glossary() -> dict:
    return tomllib.loads(GLOSSARY.read_text(encoding="utf-8"))


def glossary_markdown() -> str:
    lines = ["# 术语表 (Glossary)", "",
             "The Chinese edition's terms, generated from `glossary.toml` by "
             "`python scripts/zh.py glossary`; `tests/test_zh.py` enforces them.",
             "中文版的术语；测试会检查译文是否遵守。", "",
             "| 中文 | English | 不用 (never) | 说明 (note) |", "|---|---|---|---|"]
    for t in glossary()["term"]:
        lines.append(f"| {t['zh']} | {', '.join(t.get('en', []))} | "
                     f"{', '.join(t.get('banned', []))} | {t.get('note', '')} |")
    return "\n".join(lines) + "\n"


def _select(numbers: list[str]) -> list[Path]:
    books = english_notebooks()
    if not numbers:
        return books
    chosen = [b for b in books if b.stem[:2] in numbers or b.stem in numbers]
    unknown = set(numbers) - {b.stem[:2] for b in chosen} - {b.stem for b in chosen}
    if unknown:
        raise SystemExit(f"no English notebook numbered {sorted(unknown)}; "
                         f"there are {[b.stem for b in books]}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["build", "skeleton", "status", "glossary"])
    parser.add_argument("notebooks", nargs="*", help="numbers (02) or stems; all when none")
    args = parser.parse_args(argv)
    if args.command == "glossary":
        (CHINESE / "GLOSSARY.md").write_text(glossary_markdown(), encoding="utf-8")
        print("wrote notebooks/zh-CN/GLOSSARY.md")
        return 0
    failed = 0
    for english in _select(args.notebooks):
        if args.command == "skeleton":
            print(f"{store_of(english).relative_to(ROOT)}: {skeleton(english)} cells and "
                  "comments to translate")
        elif args.command == "status":
            found = problems(english)
            found = found or drift(english)
            print(f"{english.stem}: " + ("up to date" if not found else f"{len(found)} problems"))
            for p in found:
                print("  " + p)
            failed += bool(found)
        else:
            try:
                print(f"wrote {write(english).relative_to(ROOT)}")
            except ZhError as e:
                print(f"{chinese_of(english).relative_to(ROOT)} not written:\n  "
                      + str(e).replace("\n", "\n  "), file=sys.stderr)
                failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
