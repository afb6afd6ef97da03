"""The `qn-bot` command line as users and scripts see it (docs/architecture.md, CLI contract)."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qn_bot.cli import build_parser, main
from qn_bot.export import FIELDS
from qn_bot.records import CampaignRecord
from qn_bot.store.database import is_sqlite
from qn_bot.store.sql import Store
from tests.integration.construire import TEMPLATE
from tests.integration.processes import (
    SLUG,
    SQLITE_ONLY,
    QnBot,
    Result,
    clean_env,
    qn_bot_command,
    write_config,
)

# Every test taking ``qn`` or ``config_path`` runs on SQLite and on PostgreSQL (when configured);
# those marked SQLITE_ONLY are about files, configuration or flows, not the database.
pytestmark = pytest.mark.integration

MINI_FLOW = """\
id = "mini"
version = 3
languages = ["fr"]
title = "Mini parcours"

[[steps]]
id = "accord"
kind = "consent"
prompt = "D'accord ?"

[[steps]]
id = "idees"
kind = "list"
section = "Vos idées"
prompt = "Des idées ?"
max_length = 100
"""

# One unknown key (step q1), one `when` naming a step that does not exist (step q2), one
# missing translation (step q3).
BAD_FLOW = """\
id = "mauvais"
version = 1
languages = ["fr", "en"]
title = { fr = "Mauvais", en = "Bad" }

[[steps]]
id = "q1"
kind = "list"
prompt = { fr = "Question ?", en = "Question?" }
colour = "rouge"

[[steps]]
id = "q2"
kind = "list"
prompt = { fr = "Encore ?", en = "More?" }
when = "'x' in nulle_part"

[[steps]]
id = "q3"
kind = "list"
prompt = { fr = "Sans anglais ?" }
"""


def campaign_record(config: Path, slug: str) -> CampaignRecord:
    url = config.read_text(encoding="utf-8").split('url = "', 1)[1].split('"', 1)[0]

    async def read() -> CampaignRecord:
        async with Store.from_url(url) as store, store.transaction() as tx:
            record = await tx.campaigns.campaign_by_slug(slug)
        assert record is not None
        return record

    return asyncio.run(read())


def statuses(qn: QnBot) -> dict[str, str]:
    rows = csv.DictReader(
        io.StringIO(qn.read("campaign", "list", "--format", "tsv").stdout), delimiter="\t"
    )
    return {row["slug"]: row["status"] for row in rows}


def assert_error(result: Result, rc: int, *needles: str) -> None:
    assert result.rc == rc, str(result)
    for needle in needles:
        assert needle in result.stderr, (needle, str(result))
    assert "Traceback" not in result.stderr, str(result)


# ---------------------------------------------------------------------------------- campaigns
# Commands a test is about run as real `qn-bot` processes (qn.ok / qn(...)); the checks around
# them run in-process (qn.read / qn.inproc), the same code without an interpreter start.


def test_campaign_create_open_close_archive_list_round_trip(qn: QnBot, tmp_path: Path) -> None:
    flow_file = tmp_path / "mini.toml"
    flow_file.write_text(MINI_FLOW, encoding="utf-8")
    # From the built-in id (with ISO dates) and from a flow file path. One after the other: the
    # first one creates the database.
    created = qn.ok(
        "campaign", "create", "ts", "--flow", "construire-2030", "--title", "Think Small",
        "--edition", "Think Small 2016-2017",
        "--opens", "2026-12-01", "--closes", "2027-01-01T09:00+01:00",
    )  # fmt: skip
    created_mini = qn.ok(
        "campaign", "create", "mini-1", "--flow", str(flow_file), "--title", "Mini"
    )
    assert "ts" in created.stdout
    assert "draft" in created.stdout
    assert "mini" in created_mini.stdout

    listing = qn.read("campaign", "list", "--format", "tsv").stdout.splitlines()
    assert listing[0].split("\t") == [
        "slug", "status", "title", "edition", "opens", "closes", "participants", "items"
    ]  # fmt: skip
    assert sorted(listing[1:]) == [
        "mini-1\tdraft\tMini\t\t\t\t0\t0",
        "ts\tdraft\tThink Small\tThink Small 2016-2017\t2026-12-01T00:00:00+00:00"
        "\t2027-01-01T08:00:00+00:00\t0\t0",
    ]

    # ISO dates: a date alone is midnight UTC, an offset is honoured.
    ts = campaign_record(qn.config, "ts")
    assert ts.opens_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert ts.closes_at == datetime(2027, 1, 1, 8, 0, tzinfo=UTC)
    assert ts.edition == "Think Small 2016-2017"
    mini = campaign_record(qn.config, "mini-1")
    assert (mini.flow_id, mini.flow_version) == ("mini", 3)
    assert (mini.opens_at, mini.closes_at) == (None, None)

    # The flow is copied into the database: editing the file later changes nothing.
    flow_file.write_text(MINI_FLOW.replace("Vos idées", "Autre chose"), encoding="utf-8")
    assert "Vos idées" in qn.read("export", "mini-1", "--format", "md").stdout

    # An invalid transition: clear error, exit code 1, nothing changed.
    assert_error(qn("campaign", "close", "ts"), 1, "error:", "ts", "draft", "closed")
    assert statuses(qn)["ts"] == "draft"

    assert qn.read("campaign", "open", "ts").stdout.split() == ["ts", "open"]
    assert qn.inproc("campaign", "open", "ts").rc == 0  # already open: nothing to do
    assert_error(qn.inproc("campaign", "archive", "ts"), 1, "error:", "open", "archived")
    assert qn.read("campaign", "close", "ts").stdout.split() == ["ts", "closed"]
    assert qn.ok("campaign", "archive", "ts").stdout.split() == ["ts", "archived"]
    assert_error(qn.inproc("campaign", "open", "ts"), 1, "error:", "archived")
    assert_error(qn.inproc("campaign", "close", "ts"), 1, "error:", "archived")
    assert qn.read("campaign", "archive", "mini-1").rc == 0  # a draft can be archived directly
    assert sorted(statuses(qn).values()) == ["archived", "archived"]

    assert_error(qn.inproc("campaign", "open", "nulle-part"), 1, "error:", "nulle-part")


def test_campaign_list_reads_as_a_table_and_as_data(qn: QnBot) -> None:
    qn.ok("chat", "--campaign", SLUG, "--as", "alice", input="1\nUne idée\nUne autre\n")
    qn.read(
        "campaign", "create", "brouillon", "--flow", "construire-2030", "--title", "Plus tard",
        "--edition", "Think Small 2026", "--opens", "2026-12-01", "--closes", "2027-01-15",
    )  # fmt: skip
    table = qn.ok("campaign", "list").stdout.splitlines()
    # A header, then one line per campaign starting with its slug and its status as the chat
    # says it; dates as people write them; counts of participants (qn_bot.participants) and
    # items.
    assert table[0].split()[:2] == ["CAMPAGNE", "STATUT"], table
    for word in ("ÉDITION", "OUVERTURE", "CLÔTURE", "PARTICIPANTS", "CONTRIBUTIONS", "TITRE"):
        assert word in table[0]
    rows = {line.split()[0]: line for line in table[1:]}
    assert rows[SLUG].split()[1] == "ouverte"
    assert rows["brouillon"].split()[1] == "brouillon"
    assert "Think Small 2026" in rows["brouillon"]
    assert "01/12/2026" in rows["brouillon"]
    assert "15/01/2027" in rows["brouillon"]
    assert rows[SLUG].split()[-4:] == ["1", "2", "Construire", "2030"], rows[SLUG]
    data = {c["slug"]: c for c in qn.read("campaign", "list", "--format", "json").json()}
    assert data[SLUG]["status"] == "open"
    assert (data[SLUG]["participants"], data[SLUG]["items"]) == (1, 2)
    assert data["brouillon"]["opens"] == "2026-12-01T00:00:00+00:00"
    assert data["brouillon"]["edition"] == "Think Small 2026"


def test_campaign_create_refuses_bad_arguments(qn: QnBot, tmp_path: Path) -> None:
    qn.read("campaign", "create", "c1", "--flow", "construire-2030", "--title", "Un")
    bad = tmp_path / "mauvais.toml"
    bad.write_text(BAD_FLOW, encoding="utf-8")
    cases: list[tuple[tuple[str, ...], int, tuple[str, ...]]] = [
        (("c1", "--title", "Deux"), 1, ("error:", "c1", "already exists")),
        (("Pas Bon!", "--title", "X"), 1, ("error:", "Pas Bon!")),
        (("c2", "--title", "X", "--opens", "2026-13-45"), 2, ("--opens", "ISO")),
        (
            ("c3", "--title", "X", "--opens", "2027-01-01", "--closes", "2026-01-01"),
            1,
            ("error:", "--closes"),
        ),
    ]
    for args, rc, needles in cases:
        slug, *rest = args
        result = qn.inproc("campaign", "create", slug, "--flow", "construire-2030", *rest)
        assert_error(result, rc, *needles)
    unknown_flow = qn.inproc("campaign", "create", "c4", "--flow", "pas-de-flow", "--title", "X")
    bad_flow = qn.inproc("campaign", "create", "c5", "--flow", str(bad), "--title", "X")
    assert_error(unknown_flow, 1, "error:", "pas-de-flow", "construire-2030")
    assert_error(bad_flow, 1, "mauvais.toml", "colour", "nulle_part")
    assert list(statuses(qn)) == ["c1"]


def test_campaign_min_respondents_option(qn: QnBot) -> None:
    """`create --min-respondents N` and `set SLUG --min-respondents N`: the campaign's own
    anonymity threshold (5 when not given)."""
    qn.read("campaign", "create", "defaut", "--flow", "construire-2030", "--title", "Défaut")
    assert campaign_record(qn.config, "defaut").min_respondents == 5
    created = qn.ok(
        "campaign", "create", "petit", "--flow", "construire-2030", "--title", "Petit",
        "--min-respondents", "3",
    )  # fmt: skip
    assert "petit" in created.stdout
    assert campaign_record(qn.config, "petit").min_respondents == 3
    changed = qn.ok("campaign", "set", "petit", "--min-respondents", "8")
    assert changed.stdout.split() == ["petit", "min-respondents=8"]
    assert campaign_record(qn.config, "petit").min_respondents == 8
    for args in (("set", "petit", "--min-respondents", "0"), ("set", "petit")):
        assert_error(qn.inproc("campaign", *args), 2, "--min-respondents")
    assert_error(
        qn.inproc("campaign", "create", "zero", "--flow", "construire-2030", "--title", "Z",
                  "--min-respondents", "0"),
        2,
        "--min-respondents",
    )  # fmt: skip
    assert_error(qn.inproc("campaign", "set", "nulle-part", "--min-respondents", "3"), 1, "error:")
    assert campaign_record(qn.config, "petit").min_respondents == 8


def test_a_closed_campaign_is_said_to_be_closed_and_rights_still_work(qn: QnBot) -> None:
    qn.read("campaign", "create", SLUG, "--flow", "construire-2030", "--title", "Construire 2030")
    qn.read("campaign", "open", SLUG)
    first = qn.ok("chat", "--campaign", SLUG, "--as", "alice", input="1\nUne idée\n")
    assert "✓ Noté (1 au total)" in first.stdout
    qn.read("campaign", "close", SLUG)
    assert statuses(qn) == {SLUG: "closed"}

    closed = qn.ok("chat", "--as", "alice", input="Une autre idée\n/mes_donnees\n")
    assert "close" in closed.stdout
    assert "✓ Noté" not in closed.stdout
    assert "Une idée" in closed.stdout  # /mes_donnees still answers
    rows = qn.export_json()
    assert [row["text"] for row in rows] == ["Une idée"]


# ---------------------------------------------------------------------------------- export


def test_export_to_a_file_in_every_format(qn: QnBot, tmp_path: Path) -> None:
    qn.ok(
        "chat", "--campaign", SLUG, "--as", "alice",
        input="1\nRévolution numérique\n<b>gras</b> & \"guillemets\"\n=1+1\n/suivant\n",
    )  # fmt: skip
    paths = {fmt: tmp_path / "sortie" / f"export.{fmt}" for fmt in ("md", "html", "csv", "json")}
    (tmp_path / "sortie").mkdir()
    results = qn.parallel(
        *(("export", SLUG, "--format", fmt, "-o", str(paths[fmt])) for fmt in ("md", "html"))
    )
    results += [
        qn.read("export", SLUG, "--format", f, "-o", str(paths[f])) for f in ("csv", "json")
    ]
    for result, path in zip(results, paths.values(), strict=True):
        assert result.stdout == "", "with -o nothing goes to stdout"
        assert path.is_file(), str(result)
        assert str(path) in result.stderr

    md = paths["md"].read_text(encoding="utf-8")
    assert md.startswith("# Construire 2030") or "\n# Construire 2030" in md
    assert "- Révolution numérique" in md

    html = paths["html"].read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "Révolution numérique" in html
    assert "<b>gras</b>" not in html
    assert "&lt;b&gt;gras&lt;/b&gt;" in html

    rows = list(csv.DictReader(io.StringIO(paths["csv"].read_text(encoding="utf-8"))))
    assert tuple(rows[0].keys()) == FIELDS
    assert [row["text"] for row in rows] == [
        "Révolution numérique",
        '<b>gras</b> & "guillemets"',
        "'=1+1",
    ]

    # French-locale Excel and LibreOffice: a UTF-8 byte order mark and ";" between cells.
    excel = tmp_path / "sortie" / "excel.csv"
    qn.read("export", SLUG, "--format", "csv", "--csv-dialect", "excel-fr", "-o", str(excel))
    raw = excel.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert not paths["csv"].read_bytes().startswith(b"\xef")
    excel_rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert excel_rows == list(csv.reader(io.StringIO(paths["csv"].read_text(encoding="utf-8"))))

    items = json.loads(paths["json"].read_text(encoding="utf-8"))
    assert [tuple(item) for item in items] == [FIELDS] * 3
    assert [item["text"] for item in items] == [
        "Révolution numérique",
        '<b>gras</b> & "guillemets"',
        "=1+1",
    ]
    assert {item["step"] for item in items} == {"pourquoi"}
    for item in items:
        for key in ("created_at", "updated_at"):
            assert datetime.fromisoformat(item[key]).tzinfo is not None
    # -o writes what stdout would have shown.
    assert qn.export_json() == items

    english = qn.read("export", SLUG, "--format", "md", "--language", "en").stdout
    assert "Why is everything about to change?" in english
    assert_error(qn.inproc("export", "nulle-part", "--format", "json"), 1, "error:", "nulle-part")
    assert_error(qn.inproc("export", SLUG, "--format", "pdf"), 2, "pdf")


# ---------------------------------------------------------------------------------- flows


@SQLITE_ONLY  # validating flow files never opens the database
def test_flow_validate_good_and_bad_files(qn: QnBot, tmp_path: Path) -> None:
    good = tmp_path / "mini.toml"
    good.write_text(MINI_FLOW, encoding="utf-8")
    bad = tmp_path / "mauvais.toml"
    bad.write_text(BAD_FLOW, encoding="utf-8")
    broken = tmp_path / "casse.toml"
    broken.write_text('id = "x"\n[[steps]\n', encoding="utf-8")

    ok, failed = qn.parallel_any(
        ("flow", "validate", str(good), str(TEMPLATE)),
        ("flow", "validate", str(bad)),
    )
    mixed = qn.inproc("flow", "validate", str(good), str(broken), str(tmp_path / "absent.toml"))
    assert ok.rc == 0, str(ok)
    assert ok.stdout.count("ok:") == 2
    assert f"ok: {good}" in ok.stdout
    assert "mini" in ok.stdout

    assert failed.rc == 1, str(failed)
    assert "ok:" not in failed.stdout
    errors = [line for line in failed.stderr.splitlines() if line.strip()]
    expected = {
        "q1": ("colour", "unknown key"),
        "q2": ("nulle_part", "unknown step"),
        "q3": ("'en'", "lacks"),
    }
    for step, (needle, problem) in expected.items():
        matching = [e for e in errors if needle in e]
        assert len(matching) == 1, (step, errors)
        # Each error names the file, the step and the problem.
        assert "mauvais.toml" in matching[0], matching
        assert f"'{step}'" in matching[0], matching
        assert problem in matching[0], matching
    assert "Traceback" not in failed.stderr

    assert mixed.rc == 1, str(mixed)
    assert f"ok: {good}" in mixed.stdout
    assert "casse.toml" in mixed.stderr
    assert "line 2" in mixed.stderr
    assert "absent.toml" in mixed.stderr
    assert "not found" in mixed.stderr


@SQLITE_ONLY  # listing flows never opens the database
def test_flow_list_lists_the_built_in_flow(qn: QnBot) -> None:
    lines = qn.ok("flow", "list").stdout.splitlines()
    (line,) = [line for line in lines if line.split("\t")[0] == SLUG]
    assert "Construire 2030" in line
    assert "v1" in line


def test_a_flow_of_flows_dir_is_listed_and_usable_by_its_id(qn: QnBot, tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "mini.toml").write_text(MINI_FLOW, encoding="utf-8")
    # A top-level key: before the config's [database] table.
    qn.config.write_text(
        f'flows_dir = "{flows.as_posix()}"\n{qn.config.read_text(encoding="utf-8")}',
        encoding="utf-8",
    )
    listed = qn.read("flow", "list").stdout
    assert any(line.split("\t")[0] == "mini" for line in listed.splitlines()), listed
    # config.flows_dir is documented as "extra flow files for `flow list` and `campaign create`".
    created = qn("campaign", "create", "mini-2", "--flow", "mini", "--title", "Mini")
    assert created.rc == 0, str(created)


# ---------------------------------------------------------------------------------- facilitators


def test_facilitator_add_list_remove(qn: QnBot) -> None:
    qn.read("campaign", "create", "c1", "--flow", "construire-2030", "--title", "Un")
    qn.read("campaign", "open", "c1")
    assert qn.read("facilitator", "list").stdout == ""
    chat = qn.chat("--as", "alice")
    assert "réservée aux animateurs" in chat.send("/campagnes", "réservée")

    # The id the CLI names is the citizen of `qn-bot chat --as alice`, and the role takes
    # effect in a chat that is already running.
    assert "console:alice" in qn.ok("facilitator", "add", "console:alice").stdout
    scoped = qn.read("facilitator", "add", "telegram:12345", "--campaign", "c1")
    assert "telegram:12345" in scoped.stdout
    assert qn.ok("facilitator", "list").stdout.splitlines() == [
        "console:alice\t(all campaigns)",
        "telegram:12345\tc1",
    ]
    campaigns = chat.send("/campagnes", "c1")
    assert "c1" in campaigns
    assert "réservée" not in campaigns

    assert "no longer" in qn.ok("facilitator", "remove", "console:alice").stdout
    assert "réservée aux animateurs" in chat.send("/campagnes", "réservée")
    assert chat.close() == 0
    assert "was not" in qn.read("facilitator", "remove", "console:alice").stdout
    assert qn.read("facilitator", "list").stdout.splitlines() == ["telegram:12345\tc1"]

    assert_error(qn.inproc("facilitator", "add", "alice"), 1, "error:", "PLATFORM:USER_ID")
    assert_error(
        qn.inproc("facilitator", "add", "console:bob", "--campaign", "nulle-part"), 1, "nulle-part"
    )
    assert qn.read("facilitator", "list").stdout.splitlines() == ["telegram:12345\tc1"]


def test_facilitator_add_twice_grants_once(qn: QnBot) -> None:
    qn.read("facilitator", "add", "console:alice")
    again = qn.ok("facilitator", "add", "console:alice")
    assert "already" in again.stdout, str(again)
    assert qn.read("facilitator", "list").stdout.splitlines() == ["console:alice\t(all campaigns)"]


# ---------------------------------------------------------------------------------- database


def test_db_upgrade_twice_is_idempotent(qn: QnBot, tmp_path: Path, database_url: str) -> None:
    first = qn.ok("db", "upgrade")
    if is_sqlite(database_url):  # the configured file is created (PostgreSQL: the tables)
        assert (tmp_path / "test.db").is_file()
    second = qn.ok("db", "upgrade")
    assert first.stdout == second.stdout
    assert "Traceback" not in first.stderr + second.stderr
    assert qn.read("campaign", "list").stdout == ""
    assert not (tmp_path / "qn_bot.db").exists(), "the configured database, not the default"


def test_config_comes_from_option_env_file_or_defaults(tmp_path: Path) -> None:
    """--config PATH, else $QN_BOT_CONFIG, else ./qn_bot.toml, else ./qn_bot.db.

    SQLite only: which config was read shows in which database file was created.
    """
    env = clean_env()
    bare, from_env, local = (tmp_path / name for name in ("bare", "env", "local"))
    for directory in (bare, from_env, local):
        directory.mkdir()
    env_config = write_config(from_env)
    (local / "qn_bot.toml").write_text(
        f'[database]\nurl = "sqlite:///{(local / "local.db").as_posix()}"\n', encoding="utf-8"
    )
    upgrade = [*qn_bot_command(), "db", "upgrade"]
    procs = [
        subprocess.Popen(upgrade, cwd=cwd, env=environ, stderr=subprocess.PIPE)
        for cwd, environ in (
            (bare, env),
            (from_env, {**env, "QN_BOT_CONFIG": str(env_config)}),
            (local, env),
        )
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    assert (bare / "qn_bot.db").is_file()
    assert (from_env / "test.db").is_file()
    assert not (from_env / "qn_bot.db").exists()
    assert (local / "local.db").is_file()
    assert not (local / "qn_bot.db").exists()

    missing = QnBot(tmp_path, tmp_path / "absent.toml").inproc("campaign", "list")
    assert_error(missing, 1, "absent.toml")


def test_config_option_after_the_command(tmp_path: Path) -> None:
    """`qn-bot run --config PATH` (the README's spelling) reads PATH as `qn-bot --config PATH run`.

    SQLite only: which config was read shows in which database file was created.
    """
    after, before = tmp_path / "after", tmp_path / "before"
    for directory in (after, before):
        directory.mkdir()
    command = qn_bot_command()
    for cwd, argv in (
        (after, [*command, "db", "upgrade", "--config", str(write_config(after))]),
        (before, [*command, "--config", str(write_config(before)), "db", "upgrade"]),
    ):
        proc = subprocess.run(argv, cwd=cwd, env=clean_env(), capture_output=True, timeout=60)
        assert proc.returncode == 0, proc.stderr.decode()
        assert (cwd / "test.db").is_file()
        assert not (cwd / "qn_bot.db").exists()
    help_text = main_help(["run", "--help"])
    assert "--config PATH" in help_text


def main_help(argv: list[str]) -> str:
    out = io.StringIO()
    parser = build_parser()
    with pytest.raises(SystemExit), contextlib.redirect_stdout(out):
        parser.parse_args(argv)
    return out.getvalue()


# ---------------------------------------------------------------------------------- help


def subcommand_paths() -> list[list[str]]:
    """Every command and subcommand of the parser, e.g. ["campaign", "create"]."""
    import argparse

    paths: list[list[str]] = []

    def walk(parser: argparse.ArgumentParser, prefix: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    paths.append([*prefix, name])
                    walk(sub, [*prefix, name])

    walk(build_parser(), [])
    return paths


def test_every_subcommand_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    paths = subcommand_paths()
    names = {" ".join(p) for p in paths}
    for expected in (
        "run", "chat", "db upgrade", "flow validate", "flow list", "campaign create",
        "campaign open", "campaign close", "campaign archive", "campaign list", "export",
        "facilitator add", "facilitator remove", "facilitator list",
    ):  # fmt: skip
        assert expected in names, expected
    for path in paths:
        # `moderate SLUG list|hide|show`: the campaign comes before the subcommand.
        typed = ["moderate", "slug", *path[1:]] if path[:1] == ["moderate"] and path[1:] else path
        with pytest.raises(SystemExit) as exited:
            main([*typed, "--help"])
        assert exited.value.code == 0, path
        out = capsys.readouterr().out
        assert out.startswith("usage: qn-bot " + " ".join(typed)), out


def test_help_of_the_installed_command_and_of_python_m(tmp_path: Path) -> None:
    env = clean_env()
    procs = [
        subprocess.Popen(
            argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for argv in (
            [*qn_bot_command(), "--help"],
            [sys.executable, "-m", "qn_bot", "--help"],  # "also python -m qn_bot"
        )
    ]
    outs = [(p.communicate(timeout=60), p.returncode) for p in procs]
    for (out, err), rc in outs:
        assert rc == 0, err.decode()
        assert out.decode().startswith("usage: qn-bot")
