"""The command line: ``python -m pocusiq``, one version source, extras named for missing imports."""

from __future__ import annotations

import subprocess
import sys

from pathlib import Path

import pytest

import pocusiq
from pocusiq import cli

REPO = Path(__file__).resolve().parents[1]


def test_python_dash_m_runs_the_cli():
    env_path = str(REPO / "src")
    out = subprocess.run([sys.executable, "-m", "pocusiq", "--version"], capture_output=True, text=True,
                         env={"PYTHONPATH": env_path, "PATH": ""}, check=True)
    assert out.stdout.strip() == f"pocusiq {pocusiq.__version__}"


def test_one_version_source_and_packaging_metadata():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "pocusiq.__version__"}
    assert any(r.startswith("setuptools>=77") for r in project["build-system"]["requires"])
    assert (REPO / "src" / "pocusiq" / "py.typed").is_file()
    extras = project["project"]["optional-dependencies"]
    for _, (extra, _package) in cli.EXTRAS.items():  # every extra the CLI names exists
        assert extra in extras


@pytest.mark.parametrize(("module", "extra"), [("serial", "gantry"), ("SimpleITK", "pairing"),
                                                ("pydicom", "dicom"), ("onnxruntime", "onnx"), ("av", "video")])
def test_missing_optional_dependency_names_the_extra(monkeypatch, capsys, module, extra):
    import importlib

    real = importlib.import_module

    class FakeCommand:
        @staticmethod
        def add_arguments(parser):
            pass

        @staticmethod
        def run(args):
            raise ModuleNotFoundError(f"No module named '{module}'", name=module)

    monkeypatch.setattr(cli.importlib, "import_module",
                        lambda name: FakeCommand if name == "pocusiq.train.command" else real(name))
    assert cli.main(["train"]) == cli.EXIT_ERROR
    assert f"pip install 'pocusiq[{extra}]'" in capsys.readouterr().err


def test_no_command_imports_torch_to_build_its_options():
    # `pocusiq enhance --help` took 2.0 s instead of 0.16 s when the enhance command read ENGINES
    # from the enhancer, which imports the models (torch).
    code = ("import sys\nfrom pocusiq import cli\nfor name in cli.COMMANDS:\n    cli.build_parser(name)\n"
            "    if 'torch' in sys.modules:\n        sys.exit(name)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": ""})
    assert out.returncode == 0, f"building the options of {out.stderr.strip() or out.stdout} imported torch"
