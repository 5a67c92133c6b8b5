"""The lock files agree with pyproject.toml: every package installed is pinned there, with hashes.

scripts/bootstrap.sh installs only from requirements.lock and the Dockerfile only from
requirements-runtime.lock, with --require-hashes; a dependency added to pyproject.toml but not
locked would be missing at run time, and one whose pin moved would run untested code.
`bash scripts/lock.sh` rewrites both. No network here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
# "name==version \" opens an entry; its "--hash=sha256:..." lines follow, indented.
ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}\b")
# The extras pyproject asks for, and the package each one brings in.
EXTRA_PACKAGES = {("faust-streaming", "rocksdict"): "rocksdict", ("redis", "hiredis"): "hiredis"}


def locked(text: str) -> dict[str, tuple[str, int]]:
    """Each locked package's canonical name -> (version, number of sha256 hashes)."""
    entries: dict[str, tuple[str, int]] = {}
    current = ""
    for line in text.splitlines():
        opened = ENTRY.match(line)
        if opened:
            current = canonicalize_name(opened.group(1))
            entries[current] = (opened.group(2), 0)
        elif current and HASH.search(line):
            version, hashes = entries[current]
            entries[current] = (version, hashes + 1)
    return entries


def declared(pyproject: str, *, dev: bool = True) -> list[Requirement]:
    """pyproject.toml's dependencies, its build requirements and (unless not dev) its dev extra."""
    data = tomllib.loads(pyproject)
    listed = [*data["project"]["dependencies"], *data["build-system"]["requires"]]
    if dev:
        listed += data["project"]["optional-dependencies"]["dev"]
    return [Requirement(line) for line in listed]


def disagreements(pyproject: str, lock: str, *, dev: bool = True) -> list[str]:
    entries = locked(lock)
    problems = [f"{name}=={version} has no hash" for name, (version, n) in entries.items() if not n]
    for requirement in declared(pyproject, dev=dev):
        name = canonicalize_name(requirement.name)
        if name not in entries:
            problems.append(f"{requirement} is not in the lock")
        elif not requirement.specifier.contains(entries[name][0], prereleases=True):
            problems.append(f"{requirement} but the lock has {entries[name][0]}")
        for extra in requirement.extras:
            brought = EXTRA_PACKAGES.get((name, extra), extra)
            if canonicalize_name(brought) not in entries:
                problems.append(f"{requirement}: {brought} is not in the lock")
    return problems


def read(name: str) -> str:
    return (ROOT / name).read_text()


def test_the_lock_pins_every_declared_dependency_with_hashes() -> None:
    problems = disagreements(read("pyproject.toml"), read("requirements.lock"))
    assert not problems, "run `bash scripts/lock.sh`: " + "; ".join(problems)


def test_the_runtime_lock_pins_every_runtime_dependency_with_hashes() -> None:
    problems = disagreements(read("pyproject.toml"), read("requirements-runtime.lock"), dev=False)
    assert not problems, "run `bash scripts/lock.sh`: " + "; ".join(problems)


def test_the_image_runs_the_versions_the_tests_ran() -> None:
    full = {name: version for name, (version, _) in locked(read("requirements.lock")).items()}
    runtime = {name: v for name, (v, _) in locked(read("requirements-runtime.lock")).items()}
    differing = {name: (v, full.get(name)) for name, v in runtime.items() if full.get(name) != v}
    assert not differing, f"runtime lock vs requirements.lock: {differing}"


def test_the_locks_hold_the_installer_and_the_build_backend() -> None:
    # Both install pip and build segstream with --no-build-isolation from the lock alone.
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        assert {"pip", "setuptools", "wheel"} <= locked(read(lock)).keys(), lock


PYPROJECT = """
[build-system]
requires = ["setuptools>=77"]
[project]
dependencies = ["redis[hiredis]==8.1.0", "river==0.26.1"]
[project.optional-dependencies]
dev = ["pytest==9.2.0"]
"""
HASHED = "    --hash=sha256:" + "a" * 64
PINS = ("hiredis==3.5.0", "pytest==9.2.0", "redis==8.1.0", "river==0.26.1", "setuptools==84.2.1")
AGREEING_LOCK = "".join(f"{pin} \\\n{HASHED}\n" for pin in PINS)


def test_an_agreeing_lock_passes() -> None:
    assert disagreements(PYPROJECT, AGREEING_LOCK) == []


def test_the_runtime_lock_needs_no_dev_tools() -> None:
    without_pytest = AGREEING_LOCK.replace(f"pytest==9.2.0 \\\n{HASHED}\n", "")
    assert disagreements(PYPROJECT, without_pytest, dev=False) == []
    assert disagreements(PYPROJECT, without_pytest) == ["pytest==9.2.0 is not in the lock"]


def test_a_pin_moved_in_pyproject_but_not_in_the_lock_is_caught() -> None:
    moved = PYPROJECT.replace("river==0.26.1", "river==0.27.0")
    assert disagreements(moved, AGREEING_LOCK) == ["river==0.27.0 but the lock has 0.26.1"]


def test_a_dependency_missing_from_the_lock_is_caught() -> None:
    added = PYPROJECT.replace('"pytest==9.2.0"', '"pytest==9.2.0", "kubernetes-validate==1.37.0"')
    assert disagreements(added, AGREEING_LOCK) == ["kubernetes-validate==1.37.0 is not in the lock"]


def test_an_extra_whose_package_is_missing_is_caught() -> None:
    without_hiredis = AGREEING_LOCK.replace(f"hiredis==3.5.0 \\\n{HASHED}\n", "")
    assert disagreements(PYPROJECT, without_hiredis) == [
        "redis[hiredis]==8.1.0: hiredis is not in the lock"
    ]


def test_a_pin_without_hashes_is_caught() -> None:
    unhashed = AGREEING_LOCK.replace(f"river==0.26.1 \\\n{HASHED}", "river==0.26.1")
    assert disagreements(PYPROJECT, unhashed) == ["river==0.26.1 has no hash"]


def test_the_dockerfile_installs_only_from_the_runtime_lock() -> None:
    runs = [line for line in read("Dockerfile").splitlines() if "pip install" in line]
    assert len(runs) == 2, runs
    assert "pip install --require-hashes -r requirements-runtime.lock" in runs[0]
    assert "--no-deps --no-build-isolation ." in runs[1]
    assert "COPY requirements-runtime.lock" in read("Dockerfile")
