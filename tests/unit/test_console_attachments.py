"""Attachments on the console (/digest, /export): saved to files whose paths are printed, never
dumped into the terminal."""

from __future__ import annotations

import io
import stat
from pathlib import Path

from qn_bot.adapters.console import ConsoleAdapter

from qn_bot.domain import Address, Attachment, Envelope, InboundMessage, OutboundMessage

HTML = b"<!DOCTYPE html><html><body><h1>Synth\xc3\xa8se</h1></body></html>"
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 100


async def test_attachments_are_saved_and_their_paths_printed(tmp_path: Path) -> None:
    out = io.StringIO()
    folder = tmp_path / "pieces"
    console = ConsoleAdapter("ann", stdin=io.StringIO("/digest\n"), stdout=out, attachments=folder)
    message = OutboundMessage(
        "Digest de la semaine",
        attachments=(
            Attachment("digest-ts.png", "image/png", PNG),
            Attachment("ts.html", "text/html", HTML),
            Attachment("../../ts.html", "text/html", HTML),  # a name is never a path
        ),
    )

    async def answer(inbound: InboundMessage) -> None:
        if inbound.text:  # not the chat's opening
            await console.send(Envelope(1, Address("console", "ann"), message))

    await console.run(answer)
    printed = out.getvalue()
    assert "<html" not in printed
    assert "Digest de la semaine" in printed
    saved = sorted(folder.iterdir())
    assert [p.name for p in saved] == ["digest-ts.png", "ts-2.html", "ts.html"]
    assert (folder / "digest-ts.png").read_bytes() == PNG
    assert (folder / "ts.html").read_bytes() == HTML
    for path in saved:
        assert f"📎 {path}" in printed
    # Exports hold the answers: the folder is the user's only.
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


async def test_without_a_folder_a_private_temporary_one_is_made() -> None:
    out = io.StringIO()
    console = ConsoleAdapter("ann", stdin=io.StringIO("x\n"), stdout=out)
    reply = OutboundMessage("x", attachments=(Attachment("a.csv", "text/csv", b"a,b\r\n"),))

    async def answer(inbound: InboundMessage) -> None:
        if inbound.text:  # not the chat's opening
            await console.send(Envelope(1, Address("console", "ann"), reply))

    await console.run(answer)
    line = next(x for x in out.getvalue().splitlines() if x.startswith("📎"))
    _check_and_remove(Path(line.removeprefix("📎 ").split(" (")[0]))


def _check_and_remove(path: Path) -> None:
    assert path.read_bytes() == b"a,b\r\n"
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    path.unlink()
    path.parent.rmdir()
