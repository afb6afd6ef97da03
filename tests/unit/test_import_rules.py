"""The layering rules of docs/architecture.md, checked on the source: each rule names what a
module may not reach, directly or through the modules it imports.

Walked with ``ast`` rather than grimp/import-linter: ``qn_bot.adapters`` lives in the
repository's ``adapters/`` folder (setuptools ``package-dir``), outside ``qn_bot/``, and those
tools find a package's modules by walking its own folder. Imports under ``TYPE_CHECKING`` count
too: a type that names a layer it may not know is a dependency all the same.
"""

from __future__ import annotations

import ast
from collections import deque
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"qn_bot": ROOT / "qn_bot", "qn_bot.adapters": ROOT / "adapters"}

#: The service layer: it decides what a message does and applies it through the store.
SERVICE_LAYER = ("qn_bot.service", "qn_bot.facilitation", "qn_bot.campaigns")
#: What drives the service layer: the command line, the wiring, the clock-driven jobs.
DRIVERS = ("qn_bot.app", "qn_bot.cli", "qn_bot.cli_digest", "qn_bot.__main__", "qn_bot.scheduler")


def _module_files() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for prefix, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join([prefix, *parts])] = path
    return modules


MODULES = _module_files()


def _imported(name: str) -> set[str]:
    """Modules ``name`` imports (absolute names; third-party ones as written)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            module = _from(node, package)
            found.add(module)
            # ``from package import module`` imports that module.
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return {_resolve(module) for module in found}


def _from(node: ast.ImportFrom, package: str) -> str:
    """The absolute name of the module a ``from … import`` names."""
    if not node.level:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*base, node.module] if node.module else base)


def _resolve(module: str) -> str:
    """Our module an import names (``qn_bot.store.sql.Tx`` → ``qn_bot.store.sql``)."""
    while module and module not in MODULES and module.startswith("qn_bot"):
        module = module.rpartition(".")[0]
    return module


@cache
def _edges(name: str) -> frozenset[str]:
    return frozenset(_imported(name))


def _chain(
    start: str, forbidden: tuple[str, ...], through: tuple[str, ...] = ()
) -> list[str] | None:
    """The shortest import chain from ``start`` to a module under ``forbidden``, if any; the
    modules under ``through`` may import it (the chain does not go on through them)."""
    came_from: dict[str, str | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for target in sorted(_edges(current)) if current in MODULES else ():
            if target in came_from or _under(target, through):
                continue
            came_from[target] = current
            if _under(target, forbidden):
                chain = [target]
                step: str | None = current
                while step is not None:
                    chain.append(step)
                    step = came_from[step]
                return chain[::-1]
            queue.append(target)
    return None


def _under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _violations(
    sources: list[str], forbidden: tuple[str, ...], *, through: tuple[str, ...] = ()
) -> list[str]:
    chains = (_chain(source, forbidden, through) for source in sources)
    return [" -> ".join(chain) for chain in chains if chain is not None]


def test_the_walker_sees_both_folders_and_follows_imports() -> None:
    # Guards the rules below against passing on an empty graph.
    assert "qn_bot.adapters.telegram.adapter" in MODULES
    assert "qn_bot.store.sql" in MODULES
    assert _chain("qn_bot.app", ("sqlalchemy",)) is not None
    assert "qn_bot.ports" in _edges("qn_bot.adapters.console.adapter")


def test_the_ports_import_no_sqlalchemy() -> None:
    assert _violations(["qn_bot.ports", "qn_bot.leadership"], ("sqlalchemy",)) == []


@pytest.mark.parametrize(
    "forbidden",
    [
        ("qn_bot.store",),
        ("sqlalchemy", "alembic", "asyncpg", "aiosqlite"),
        (*SERVICE_LAYER, *DRIVERS, "qn_bot.outbox"),
    ],
    ids=["store", "database-libraries", "service-and-drivers"],
)
def test_adapters_reach_no_store_and_no_service(forbidden: tuple[str, ...]) -> None:
    adapters = sorted(m for m in MODULES if _under(m, ("qn_bot.adapters",)))
    assert _violations(adapters, forbidden) == []


def test_nothing_below_the_service_imports_the_service_layer() -> None:
    below = sorted(m for m in MODULES if not _under(m, (*SERVICE_LAYER, *DRIVERS)))
    assert {"qn_bot.digest.send", "qn_bot.export", "qn_bot.site"} <= set(below)
    assert _violations(below, SERVICE_LAYER) == []


#: The operator's HTTP endpoints (/healthz, /metrics) are served with aiohttp, and doctor probes
#: Telegram (plain HTTP) and SMTP (connect and log in) itself: no platform's library, no sending.
PROBES = ("qn_bot.ops.http", "qn_bot.ops.doctor")


def test_the_core_imports_no_platform_library() -> None:
    core = sorted(m for m in MODULES if not _under(m, ("qn_bot.adapters",)))
    assert _violations(core, ("telegram", "nio")) == []
    outside = [m for m in core if not _under(m, PROBES)]
    assert _violations(outside, ("aiosmtplib", "aiohttp"), through=PROBES) == []


#: Build the Store: the wiring and the command line open the database they run on.
STORE_BUILDERS = (
    "qn_bot.app",
    "qn_bot.cli",
    "qn_bot.cli_digest",
    "qn_bot.cli_moderate",
    "qn_bot.cli_opinions",
    "qn_bot.cli_themes",
    "qn_bot.cli_recap",
    # The operator's tools: a diagnostic probes the database it checks; a backup copies it.
    "qn_bot.ops.backup",
    "qn_bot.ops.doctor",
)
#: Known exceptions, each with why; a module leaves this list when it stops needing it.
STORE_IMPORTS_ALLOWED = {
    # The database URL's own syntax, parsed to find the password to mask in logs: no SQL.
    "qn_bot.redact": ("sqlalchemy.engine",),
    # Group commit's BatchWrites and the pseudonym factory, until the service has them
    # injected by its driver (the service's own refactoring, issue 12 item 1).
    "qn_bot.service": ("qn_bot.store.batch", "qn_bot.store.rows"),
}


def test_only_the_store_and_its_builders_import_sqlalchemy_or_the_store() -> None:
    """Everything else reads and writes through the Protocols of qn_bot.repositories: SQL
    written outside qn_bot/store (the digest's counts, the participant definition) had
    reached the connection through a downcast."""
    outside = sorted(
        m
        for m in MODULES
        if _under(m, ("qn_bot",))
        and not _under(m, ("qn_bot.store", *STORE_BUILDERS, "qn_bot.adapters"))
    )
    assert "qn_bot.digest.queries" in outside
    found = [
        f"{module} imports {target}"
        for module in outside
        for target in sorted(_edges(module))
        if _under(target, ("sqlalchemy", "qn_bot.store"))
        and not _under(target, STORE_IMPORTS_ALLOWED.get(module, ()))
    ]
    assert found == []


def _parses_commands(name: str) -> bool:
    """Whether module ``name`` reaches ``qn_bot.commands.parse_command``: imports it by name,
    or calls it through the module."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if _resolve(_from(node, package)) == "qn_bot.commands" and any(
                alias.name == "parse_command" for alias in node.names
            ):
                return True
        elif isinstance(node, ast.Attribute) and node.attr == "parse_command":
            return True
    return False


def test_no_adapter_parses_commands() -> None:
    """The core parses a message's command once (qn_bot.service) and decides (qn_bot.rooms);
    an adapter hands text over as it is and is asked afterwards for what the decision needs
    from its platform (``Adapter.open_private_chat``: a group /start's private chat)."""
    adapters = sorted(m for m in MODULES if _under(m, ("qn_bot.adapters",)))
    assert "qn_bot.adapters.telegram.menu" in adapters  # reads the command table: allowed
    assert [m for m in adapters if _parses_commands(m)] == []
