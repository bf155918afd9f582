"""environment.yml and pyproject.toml name the same requirements (design section 2)."""

import re
import tomllib

import yaml

from kit.core.chapters import ROOT


def test_conda_environment_installs_exactly_the_pyproject_requirements():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    python = [d for d in deps if isinstance(d, str) and d.startswith("python")]
    assert python == ["python=3.11"]
    assert project["requires-python"] == ">=3.11,<3.12"
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert len(pip) == 1
    match = re.fullmatch(r"-e \.\[([a-z,]+)\]", pip[0])
    assert match, f"environment.yml must install the kit itself with extras, got {pip[0]!r}"
    assert set(match.group(1).split(",")) == set(project["optional-dependencies"])
    # conda packages besides python and pip would be a second list that could drift
    assert [d for d in deps if isinstance(d, str)] == ["python=3.11", "pip"]


def test_pins_that_must_hold_together():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = deps["dependencies"] + sum(deps["optional-dependencies"].values(), [])
    text = " ".join(required)
    assert "mindspore==2.10.0" in text
    assert re.search(r"numpy[^ \"]*<2", text), "MindSpore 2.10 crashes with numpy 2"
    assert re.search(r"jupyter-book[^ \"]*<2", text), "Jupyter Book 2 cannot build offline"
    assert "scrapbook" not in text


def test_installed_environment_satisfies_pyproject():
    from importlib.metadata import version

    from packaging.requirements import Requirement

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    required = project["dependencies"] + sum(project["optional-dependencies"].values(), [])
    for line in required:
        req = Requirement(line)
        assert req.specifier.contains(version(req.name), prereleases=True), \
            f"{req.name} {version(req.name)} does not satisfy {req}"
