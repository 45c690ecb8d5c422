"""What pyproject.toml and the Makefile promise: the Python versions the code runs on, and what
`make train` / `make test` install."""

import ast
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "infogan"

# Standard-library modules and names newer than 3.10, with the version that added them.
NEW_MODULES = {"tomllib": (3, 11)}
NEW_NAMES = {("typing", "Self"): (3, 11), ("typing", "override"): (3, 12), ("datetime", "UTC"): (3, 11),
             ("itertools", "batched"): (3, 12), ("enum", "StrEnum"): (3, 11)}


def _requires_python() -> SpecifierSet:
    return SpecifierSet(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"])


def _minimum(spec: SpecifierSet) -> tuple[int, int]:
    return next((3, m) for m in range(30) if spec.contains(f"3.{m}"))


def test_requires_python_admits_this_interpreter_and_not_3_10():
    spec = _requires_python()
    assert spec.contains(f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}")
    assert not spec.contains("3.10.14"), "the code imports tomllib (3.11+)"
    assert _minimum(spec) == (3, 11)


def _imports(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, None
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            for a in node.names:
                yield node.module, a.name


def test_every_module_works_under_the_declared_minimum():
    minimum = _minimum(_requires_python())
    files = sorted(SRC.rglob("*.py"))
    assert len(files) > 10
    users = []
    for path in files:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text, filename=str(path), feature_version=minimum)  # no syntax newer than the minimum
        for module, name in _imports(tree):
            need = NEW_MODULES.get(module) or NEW_NAMES.get((module, name))
            assert need is None or need <= minimum, f"{path.relative_to(ROOT)} imports {module} {name or ''}: {need}"
            users += [path.name] if module == "tomllib" else []
    assert users, "nothing imports tomllib any more: requires-python could go back to 3.10"


def _make_n(*args: str) -> list[str]:
    out = subprocess.run(["make", "-n", "-C", str(ROOT), *args], capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if "pip install" in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_train_installs_only_what_training_needs_and_make_test_the_test_tools():
    train = _make_n("train")
    assert len(train) == 2 and re.search(r"pip install -q torch==\d", train[0]) and "--index-url" not in train[0]
    assert train[1].rstrip().endswith("pip install -q -e .")  # no [test] extras: no pytest, hypothesis, playwright
    test = _make_n("test")
    assert test[0] == train[0] and test[1].rstrip().endswith('pip install -q -e ".[test]"')
    # TORCH_INDEX points the torch install, and only it, at another index (e.g. PyTorch's CPU-only builds)
    url = "https://download.pytorch.org/whl/cpu"
    for target in ("train", "test"):
        lines = _make_n(target, f"TORCH_INDEX={url}")
        assert lines[0].split()[-2:] == ["--index-url", url] and "index-url" not in lines[1]
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(e.startswith("pytest") for e in extras)
