"""What qn-bot writes to disk is its owner's only (0600 files, 0700 folders), unless the
operator's ``umask`` says otherwise. Real `qn-bot` processes started with the usual umask 022;
the modes are read with stat."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from tests.integration.processes import SLUG, QnBot, clean_env, qn_bot_command

pytestmark = pytest.mark.integration


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_with_umask_022(qn: QnBot, *args: str) -> None:
    proc = subprocess.run(
        qn.argv(*args),
        cwd=qn.workdir,
        env=qn.env,
        capture_output=True,
        timeout=60,
        check=False,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert proc.returncode == 0, proc.stderr.decode()


def config(directory: Path, extra: str = "") -> Path:
    path = directory / "qn_bot.toml"
    db = (directory / "data" / "bot.db").as_posix()
    path.write_text(f'{extra}\n[database]\nurl = "sqlite:///{db}"\n', encoding="utf-8")
    (directory / "data").mkdir(exist_ok=True)
    return path


def test_database_exports_and_site_are_the_owners_only(tmp_path: Path) -> None:
    qn = QnBot(tmp_path, config(tmp_path))
    run_with_umask_022(qn, "db", "upgrade")
    db = tmp_path / "data" / "bot.db"
    assert mode(db) == 0o600

    # -wal and -shm exist while a process has the database open.
    chat = subprocess.Popen(
        [*qn_bot_command(), "--config", str(qn.config), "chat", "--campaign", SLUG, "--as", "a"],
        cwd=tmp_path,
        env=clean_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: os.umask(0o022),
    )
    try:
        assert chat.stdout is not None
        assert chat.stdout.readline()  # the opening question: the database is open
        for suffix in ("-wal", "-shm"):
            side = db.with_name(db.name + suffix)
            assert side.exists(), suffix
            assert mode(side) == 0o600, suffix
    finally:
        chat.communicate(b"", timeout=60)

    run_with_umask_022(qn, "export", SLUG, "--format", "csv", "-o", "answers.csv")
    assert mode(tmp_path / "answers.csv") == 0o600
    run_with_umask_022(qn, "export-site", "site/public")
    for folder in (tmp_path / "site", tmp_path / "site" / "public"):
        assert mode(folder) == 0o700, folder
    pages = list((tmp_path / "site" / "public").iterdir())
    assert pages
    for page in pages:
        assert mode(page) == 0o600, page


def test_the_operator_may_widen_the_modes(tmp_path: Path) -> None:
    qn = QnBot(tmp_path, config(tmp_path, 'umask = "027"'))
    run_with_umask_022(qn, "db", "upgrade")
    assert mode(tmp_path / "data" / "bot.db") == 0o640
    run_with_umask_022(qn, "export-site", "site")
    assert mode(tmp_path / "site") == 0o750
    assert mode(tmp_path / "site" / "index.html") == 0o640


def test_a_umask_that_is_not_octal_is_refused(tmp_path: Path) -> None:
    qn = QnBot(tmp_path, config(tmp_path, "umask = 27"))
    result = qn("db", "upgrade")
    assert result.rc == 1
    assert 'umask: octal digits in a string, e.g. "077"' in result.stderr
    assert "Traceback" not in result.stderr
