"""Kafka's runtime jars from Maven Central, downloaded once into a cache every checkout shares.

Layout: ``<cache_dir>/kafka-<version>/libs/*.jar`` plus an empty ``.complete`` marker. The jars
are downloaded into a temporary directory beside ``libs`` and renamed into place only once Maven
succeeded, so an interrupted download is never mistaken for a complete cache.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from streams.devstack.errors import StackError
from streams.devstack.templates import render
from streams.settings import Settings

COMPLETE_MARKER = ".complete"
MAVEN_TIMEOUT_S = 900.0
POM_TEMPLATE = "kafka-pom.xml"


def kafka_home(settings: Settings) -> Path:
    """The cache directory of this Kafka version: ``libs/`` and the Maven log live here."""
    return settings.cache_dir.expanduser().resolve() / f"kafka-{settings.kafka_version}"


def is_complete(libs: Path) -> bool:
    """Whether ``libs`` holds a finished download."""
    return (libs / COMPLETE_MARKER).is_file()


def render_pom(kafka_version: str) -> str:
    """The pom whose runtime dependencies are exactly Kafka's broker jars."""
    return render(POM_TEMPLATE, kafka_version=kafka_version)


def kafka_jars(settings: Settings, *, log: Callable[[str], None]) -> Path:
    """The directory of Kafka's jars, downloading them with Maven on first use."""
    home = kafka_home(settings)
    libs = home / "libs"
    if is_complete(libs):
        return libs
    maven = shutil.which("mvn")
    if maven is None:
        raise StackError(
            f"Kafka {settings.kafka_version} is not in the jar cache {libs} and `mvn` is not on "
            f"PATH: install Maven (apt-get install maven) or pre-fill {libs} with Kafka's jars "
            f"and an empty {COMPLETE_MARKER} file"
        )
    home.mkdir(parents=True, exist_ok=True)
    with _exclusive(home / ".lock"):
        if not is_complete(libs):  # another checkout may have finished it while we waited
            log(f"kafka: downloading Kafka {settings.kafka_version} from Maven Central into {libs}")
            _download(maven, settings.kafka_version, home)
    return libs


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock: two checkouts starting at once download the jars only once."""
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _download(maven: str, kafka_version: str, home: Path) -> None:
    staging = Path(tempfile.mkdtemp(prefix=".download-", dir=home))
    try:
        staged_libs = _run_maven(maven, kafka_version, staging, home / "maven.log")
        (staged_libs / COMPLETE_MARKER).touch()
        libs = home / "libs"
        shutil.rmtree(libs, ignore_errors=True)  # an incomplete copy without the marker
        os.rename(staged_libs, libs)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _run_maven(maven: str, kafka_version: str, staging: Path, log_path: Path) -> Path:
    pom = staging / "pom.xml"
    pom.write_text(render_pom(kafka_version))
    libs = staging / "libs"
    command = [maven, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies"]
    command += [f"-DoutputDirectory={libs}", "-DincludeScope=runtime"]
    failure = (
        f"could not download Kafka {kafka_version} from Maven Central (is it reachable from "
        f"here?); see the Maven log {log_path}"
    )
    with log_path.open("wb") as mvn_log:
        try:
            done = subprocess.run(
                command,
                cwd=staging,
                stdin=subprocess.DEVNULL,
                stdout=mvn_log,
                stderr=subprocess.STDOUT,
                timeout=MAVEN_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackError(f"{failure} (timed out after {MAVEN_TIMEOUT_S:.0f}s)") from exc
    if done.returncode != 0 or not any(libs.glob("*.jar")):
        raise StackError(failure)
    return libs
