"""README.zh-CN.md and docs/instructor.zh-CN.md say what the English README and guide say.

The Chinese README links back to the English one and the English one to it; its results section
is the generated one, rewritten with the English by ``scripts/run_results.py``; every decimal and
percentage of the English README (outside the results section) is in the Chinese one, and the
Chinese one quotes no other; its notebook map links every Chinese notebook with the time the
notebook states; every relative link of both Chinese pages resolves; no form the glossary bans.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import zh  # noqa: E402

README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"
GUIDE = ROOT / "docs" / "instructor.md"
GUIDE_ZH = ROOT / "docs" / "instructor.zh-CN.md"
CHINESE_PAGES = [README_ZH, GUIDE_ZH]
REGENERATE = "run `python scripts/run_results.py --readme`"
# The figures a test compares: decimals and percentages, as tests/test_zh.py compares the cells.
_FIGURE = re.compile(r"\d+\.\d+|\d+\s*%")
# Link targets of markdown links and images, and of HTML src/href attributes.
_LINK = re.compile(r"\]\((?P<md>[^)\s]+)\)|\b(?:src|href)=[\"'](?P<html>[^\"'\s]+)")


def _run_results():
    spec = importlib.util.spec_from_file_location("run_results", ROOT / "scripts" / "run_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN_RESULTS = _run_results()
SECTIONS = {"results": (RUN_RESULTS.BEGIN, RUN_RESULTS.END),
            "timings": (RUN_RESULTS.TIMINGS_BEGIN, RUN_RESULTS.TIMINGS_END)}


def section(text: str, which: str) -> str:
    begin, end = SECTIONS[which]
    assert begin in text and end in text, f"no generated {which} section ({begin!r} ... {end!r})"
    return begin + text.split(begin, 1)[1].split(end, 1)[0] + end


def outside(text: str, which: str) -> str:
    begin, end = SECTIONS[which]
    head, rest = text.split(begin, 1)
    return head + rest.split(end, 1)[1]


def figures(text: str) -> set[str]:
    return {re.sub(r"\s+", "", f) for f in _FIGURE.findall(text)}


def test_each_readme_links_the_other_in_its_first_lines():
    first = "\n".join(README.read_text().splitlines()[:10])
    assert "](README.zh-CN.md)" in first, "README.md's first 10 lines do not link README.zh-CN.md"
    first = "\n".join(README_ZH.read_text().splitlines()[:10])
    assert "](README.md)" in first, "README.zh-CN.md's first 10 lines do not link README.md"


def test_chinese_readme_results_section_is_the_english_one():
    assert section(README_ZH.read_text(), "results") == section(README.read_text(), "results"), \
        f"README.zh-CN.md's results section differs from README.md's: {REGENERATE}"


def test_chinese_guide_timings_are_the_english_ones():
    assert section(GUIDE_ZH.read_text(), "timings") == section(GUIDE.read_text(), "timings"), \
        f"docs/instructor.zh-CN.md's timings differ from docs/instructor.md's: {REGENERATE}"


def test_run_results_rewrites_the_chinese_sections_with_the_english_ones(tmp_path, monkeypatch):
    originals = {"README": README, "README_ZH": README_ZH, "INSTRUCTOR": GUIDE,
                 "INSTRUCTOR_ZH": GUIDE_ZH}
    pages = {name: tmp_path / path.name for name, path in originals.items()}
    for name, path in pages.items():
        shutil.copy(originals[name], path)
        monkeypatch.setattr(RUN_RESULTS, name, path)
    results = json.loads((ROOT / "results" / "learner-mode.json").read_text())
    for record in results["notebooks"]:
        record["wall_s"] += 1000  # a new run: both generated sections change
    RUN_RESULTS.update_readme(results)
    for name, which, generate in (("README", "results", RUN_RESULTS.readme_section),
                                  ("INSTRUCTOR", "timings", RUN_RESULTS.timings_section)):
        chinese, before = pages[f"{name}_ZH"].read_text(), originals[f"{name}_ZH"].read_text()
        assert section(chinese, which) == section(pages[name].read_text(), which) \
            == generate(results) != section(before, which), f"{name}_ZH: {which} not rewritten"
        assert outside(chinese, which) == outside(before, which), \
            f"run_results changed {pages[f'{name}_ZH'].name} outside its {which} section"
    # without the Chinese pages, the English ones are rewritten as before
    pages["README_ZH"].unlink()
    pages["INSTRUCTOR_ZH"].unlink()
    RUN_RESULTS.update_readme(results)
    assert not pages["README_ZH"].exists() and not pages["INSTRUCTOR_ZH"].exists()


def test_chinese_readme_quotes_the_english_figures_and_no_other():
    english = figures(outside(README.read_text(), "results"))
    chinese = figures(outside(README_ZH.read_text(), "results"))
    assert not english - chinese, \
        f"README.zh-CN.md lacks figures of README.md: {sorted(english - chinese)}"
    assert not chinese - english, \
        f"README.zh-CN.md has figures README.md does not: {sorted(chinese - english)}"


def test_chinese_readme_names_the_two_commands_and_the_chinese_links():
    text = README_ZH.read_text()
    for needed in ("make lab LANG=zh_CN", "make test", "notebooks/zh-CN/00-welcome.ipynb",
                   "https://mybinder.org/v2/gh/OWNER/rnn-course/main?urlpath="
                   "lab/tree/notebooks/zh-CN/00-welcome.ipynb",
                   "git-pull?repo=https://github.com/OWNER/rnn-course&branch=main&urlpath="
                   "lab/tree/rnn-course/notebooks/zh-CN/00-welcome.ipynb",
                   "Settings → Language → 中文 (简体, 中国)", "docs/instructor.zh-CN.md"):
        assert needed in text, f"README.zh-CN.md does not say {needed!r}"


def test_chinese_map_links_every_chinese_notebook_with_its_stated_time():
    text = README_ZH.read_text()
    stated = {p.stem: RUN_RESULTS.learner_minutes(p) for p in zh.english_notebooks()}
    rows = {stem: int(minutes) for stem, minutes in re.findall(
        r"^\| \d\d \| \[[^]]+\]\(notebooks/zh-CN/([\w-]+)\.ipynb\) \|.*\| (\d+) 分钟 \|$",
        text, re.M)}
    assert rows == stated, f"README.zh-CN.md's map {rows} differs from the notebooks' {stated}"


@pytest.mark.parametrize("page", CHINESE_PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    text = page.read_text()
    missing = []
    for found in _LINK.finditer(text):
        target = found["md"] or found["html"]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0].split("?")[0]).resolve()
        if not path.is_file():
            missing.append(target)
    assert not missing, (f"{page.relative_to(ROOT)} links files that do not exist: {missing} "
                         f"(a Chinese notebook: translate its store, then {zh.REGENERATE})")


@pytest.mark.parametrize("page", CHINESE_PAGES, ids=lambda p: p.name)
def test_no_banned_glossary_form(page):
    text = page.read_text()
    found = [f"{form} (the glossary says {term['zh']})" for term in zh.glossary()["term"]
             for form in term.get("banned", []) if form in text]
    assert not found, f"{page.relative_to(ROOT)} uses banned forms: {found}"


@pytest.mark.parametrize("page", CHINESE_PAGES, ids=lambda p: p.name)
def test_bold_and_italics_render(page):
    """As in tests/test_zh.py: CommonMark (GitHub, JupyterLab) shows ** as literal asterisks
    when full-width punctuation keeps it from opening or closing emphasis."""
    from markdown_it import MarkdownIt

    html = re.sub(r"<(code|pre)>.*?</\1>", " ", MarkdownIt("commonmark").enable("table")
                  .render(page.read_text()), flags=re.S)
    found = [html[max(0, m.start() - 20):m.end() + 10] for m in re.finditer(r"\*", html)]
    assert not found, f"{page.relative_to(ROOT)}: * that renders as asterisks: {found}"
