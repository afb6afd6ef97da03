"""Building qn-bot prints no packaging warning, and the wheel still holds every data file.

`make run` installs with pip: a warning from setuptools there (a data directory taken for a
package, ``project.license`` as a table, …) buries the bot's own first lines, and today's
deprecation is tomorrow's build error. The build runs without isolation, on the setuptools of
this venv (the ``test`` extra pins one recent enough), so the test needs no network.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
#: setuptools' warnings: ``SetuptoolsDeprecationWarning: …``, ``_Warning: Package … is absent``,
#: the ``!!`` frames around their explanations, distutils' ``warning: …``.
WARNING = re.compile(r"\w*Warning\b|^\s*!!\s*$|^\s*warning:", re.MULTILINE)


#: Files of the source tree that are for its readers, not for an installed bot.
SOURCES_ONLY = {".pyc", ".md"}


def test_wheel_builds_without_packaging_warnings(tmp_path: Path) -> None:
    # A copy: setuptools writes build/ and *.egg-info/ next to the sources it builds.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "build", "*.egg-info", "__pycache__", "tests", "bench", "docs", "node_modules"
        ),
    )
    wheels = tmp_path / "wheels"
    env = dict(os.environ)
    # With it, distutils warns that it cannot byte-compile: the environment's doing, not ours.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONWARNINGS"] = "default"  # no warning filtered out before it reaches the log
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--verbose", "--no-deps"),
            *("--no-build-isolation", "--disable-pip-version-check"),
            *("--wheel-dir", str(wheels), str(source)),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    warnings = [line for line in log.splitlines() if WARNING.search(line)]
    assert not warnings, "\n".join(warnings)

    (wheel,) = wheels.glob("qn_bot-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for data in (
        "qn_bot/py.typed",
        "qn_bot/locales/fr.toml",
        "qn_bot/locales/en.toml",
        "qn_bot/flows/templates/construire-2030.toml",
        "qn_bot/templates/synthesis.html.j2",
        "qn_bot/templates/digest_email.html.j2",
        "qn_bot/templates/site_index.html.j2",
        "qn_bot/migrations/script.py.mako",
        "qn_bot/migrations/env.py",
        "qn_bot/adapters/console/adapter.py",
        "qn_bot/adapters/telegram/__init__.py",
        "qn_bot/adapters/matrix/__init__.py",
        "qn_bot/adapters/email/__init__.py",
    ):
        assert data in names, data
    # Every file of the source tree ships: a package or data folder missing from pyproject's
    # list would be left out without a word (qn_bot.opinions, adapters/web/static once were).
    shipped = {
        ROOT / "qn_bot": "qn_bot",
        ROOT / "adapters": "qn_bot/adapters",
    }
    for folder, prefix in shipped.items():
        for path in folder.rglob("*"):
            if (
                path.is_file()
                and "__pycache__" not in path.parts
                and path.suffix not in SOURCES_ONLY
            ):
                assert f"{prefix}/{path.relative_to(folder).as_posix()}" in names, path
    versions = [n for n in names if n.startswith("qn_bot/migrations/versions/")]
    assert len(versions) >= len(list((ROOT / "migrations" / "versions").glob("0*.py")))
    # A data directory is not a package, and nothing outside qn_bot is installed.
    assert not any(n.startswith(("adapters/", "migrations/", "tests/")) for n in names)
    metadata = zipfile.ZipFile(wheel).read("qn_bot-0.1.0.dist-info/METADATA").decode()
    assert "AGPL-3.0-or-later" in metadata
