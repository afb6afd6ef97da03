"""Progress of long CLI work on stderr (stdout stays for results), shown only to a terminal."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    """``items`` as they are worked through, with a bar on stderr when it is a terminal.

    Scripts and pipes get no bar and no escape codes; a person waiting sees where it is.
    """
    from rich.console import Console
    from rich.progress import track

    console = Console(stderr=True)
    yield from track(
        items,
        description=description,
        total=total,
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
