"""The one Jinja2 environment of qn-bot: templates in qn_bot/templates, HTML always escaped."""

from __future__ import annotations

from functools import cache

import jinja2


@cache
def templates() -> jinja2.Environment:
    # Autoescape everywhere: these templates only make HTML, and participant text flows into it.
    return jinja2.Environment(
        loader=jinja2.PackageLoader("qn_bot", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
