"""The set-up files agree with each other: pins, the two commands, CI."""

import re

import yaml
from conftest import ROOT

RUNTIME = {"torch", "numpy", "matplotlib", "tqdm", "jupyterlab", "ipykernel", "ipywidgets",
           "jupyterlab-language-pack-zh-cn"}


def pins(lines):
    found = {}
    for line in lines:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)==([^\s#]+)\s*(#.*)?", line)
        if match:
            found[match[1].lower()] = match[2]
    return found


def requirement_pins():
    return pins((ROOT / "requirements.txt").read_text().splitlines())


def test_every_requirement_is_pinned_exactly():
    lines = [ln.split("#")[0].strip() for ln in (ROOT / "requirements.txt").read_text().splitlines()]
    unpinned = [ln for ln in lines if ln and "==" not in ln]
    assert not unpinned, f"unpinned requirements: {unpinned}"
    assert requirement_pins()["torch"] == "2.13.0"


def test_environment_yml_pins_equal_requirements():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    env_pins = pins(pip_section)
    assert set(env_pins) == RUNTIME, f"environment.yml pins {sorted(env_pins)}, want {sorted(RUNTIME)}"
    req = requirement_pins()
    differ = {name: (version, req.get(name)) for name, version in env_pins.items()
              if req.get(name) != version}
    assert not differ, f"environment.yml vs requirements.txt: {differ}"
    assert "python=3.11" in env["dependencies"]
    assert not any(str(entry).startswith((".", "-e", "file:")) for entry in pip_section), \
        "no local-path pip entries: they rebuild the Binder image on every commit"


def test_constraints_do_not_contradict_requirements():
    constraints = pins((ROOT / "constraints.txt").read_text().splitlines())
    clash = {n: (v, constraints[n]) for n, v in requirement_pins().items()
             if n in constraints and constraints[n] != v}
    assert not clash, clash


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme and "make lab" in readme
    ci = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()
          if ln.strip() and not ln.startswith("#")]
    assert ci[-1] == "RNNLIB_REQUIRE_BROWSER=1 make test"
    # and the precision tests again on an emulated AVX2-only CPU, as the README says
    assert "make test-avx2" in ci and "make test-avx2" in readme
    # CI does nothing the README does not say: it installs Chromium as the README tells.
    assert "apt-get install chromium" in readme and "RNNLIB_REQUIRE_BROWSER=1" in readme
