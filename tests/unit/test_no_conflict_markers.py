"""A merge left half-done (conflict markers in a catalogue, a flow, a template) breaks at run
time, not at import: no tracked text file may hold one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(rb"^(<{7}|>{7}) ", re.M)
TEXT = {".py", ".toml", ".md", ".html", ".css", ".js", ".json", ".yaml", ".yml", ".txt", ".cfg"}


def test_no_tracked_file_holds_a_merge_conflict_marker() -> None:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = [ROOT / name.decode() for name in listed if name]
    texts = [path for path in files if path.suffix in TEXT and path.is_file()]
    assert len(texts) > 100  # the listing worked
    assert [str(p.relative_to(ROOT)) for p in texts if MARKER.search(p.read_bytes())] == []
