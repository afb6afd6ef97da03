"""The one text splitter: a message longer than a platform takes becomes several.

Each adapter declares how long a message may be (``Capabilities.max_text_length`` in
qn_bot.ports) and cuts its text here, so every platform splits the same way: at paragraph
boundaries when possible, else at line breaks, else at spaces, else anywhere. Hand-written
rather than a library: ``textwrap`` reflows lines (it would join the bullet lines of a digest),
and the splitters on PyPI that keep paragraphs (semantic-text-splitter, langchain's) bring a
compiled or heavy dependency for these twenty lines, and trim the whitespace a chat text keeps.
"""

from __future__ import annotations


def split_text(text: str, limit: int) -> list[str]:
    """Cut ``text`` into chunks of at most ``limit`` characters, at paragraph boundaries when
    possible, else at line breaks, else at spaces, else anywhere."""
    if limit < 1:
        raise ValueError(f"a message of at most {limit} characters cannot hold any text")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = window.rfind(separator, 0, limit + 1)
            if cut > 0:
                head, rest = rest[:cut], rest[cut + len(separator) :]
                break
        if cut <= 0:
            head, rest = rest[:limit], rest[limit:]
        if head.strip():
            chunks.append(head.rstrip())
        rest = rest.lstrip("\n")
    if rest.strip() or not chunks:
        chunks.append(rest)
    return chunks
