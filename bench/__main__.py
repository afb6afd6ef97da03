"""Run every benchmark module of bench/ (one exposing ``async def main() -> dict``), print a
table of its figures and write them as JSON to bench/results/<module>-<UTC time>.json.

    python -m bench                     all of them
    python -m bench telegram_throughput only these
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import pkgutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def modules(selected: list[str]) -> list[str]:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if not m.name.startswith("_"))
    return [n for n in names if not selected or n in selected]


def table(name: str, result: dict[str, Any]) -> str:
    lines = [f"== {name}"]
    for scenario, figures in result.items():
        if isinstance(figures, dict):
            lines.append(f"  {scenario}")
            width = max(len(k) for k in figures) if figures else 0
            lines += [f"    {k:<{width}}  {v}" for k, v in figures.items()]
        else:
            lines.append(f"  {scenario}: {figures}")
    return "\n".join(lines)


async def run(selected: list[str]) -> int:
    RESULTS.mkdir(exist_ok=True)
    failed = 0
    for name in modules(selected):
        module = importlib.import_module(f"bench.{name}")
        main = getattr(module, "main", None)
        if main is None or not inspect.iscoroutinefunction(main):
            continue
        print(f"running bench.{name}…", file=sys.stderr, flush=True)
        result: dict[str, Any] = await main()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        path = RESULTS / f"{name}-{stamp}.json"
        path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(table(name, result))
        print(f"  → {path.relative_to(HERE.parent)}")
        failed += int(result.get("passed") is False)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(sys.argv[1:])))
