"""What great-expectations costs the validation step, by chunk size.

The progress validation runs the named row rules (``quality.PROGRESS_ROW_RULES``) with
great-expectations on one chunk of staging rows at a time. Its peak resident size is the import of
great-expectations plus one chunk's run; its time, the rows plus a fixed cost per run. Each chunk
size is measured in a process of its own (``VmHWM``, as ``bench.steps`` measures a step):

- ``import_mb``: the peak after importing pandas and great-expectations, before any run;
- ``peak_mb``: the peak after warming the validation up and running it ``runs`` times on
  ``rows``-row frames (a tenth of them breaking a rule, as a noisy day would);
- ``run_mb``: what the runs added to the peak; ``seconds_per_run`` and ``us_per_row``.

    python -m bench.gx_chunks [--sizes 10000 20000 50000] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time
from typing import Any

from bench.steps import peak_rss_mb


def frame(rows: int) -> Any:
    """``rows`` staged progress rows as validation reads them; one in ten breaks a rule."""
    import numpy as np
    import pandas as pd

    i = np.arange(rows)
    progress = (i % 101).astype(float)
    progress[i % 10 == 3] = 140.0
    course = np.where(i % 10 == 7, None, (i % 5000).astype(str)).astype(object)
    return pd.DataFrame(
        {
            "learner_hash": [f"{n:064x}" for n in i],
            "provider_course_id": (i % 5000).astype(str),
            "lms_course_id": course,
            "progress_pct": progress,
            "provider_updated_at": "2026-11-03T12:00:00Z",
            "in_interval": True,
        }
    )


def _measure(rows: int, runs: int, out: mp.Queue) -> None:
    from lms_connectors.rules import quality

    quality.import_gx()
    imported = peak_rss_mb()
    data = frame(rows)
    quality.row_rules(data, quality.PROGRESS_ROW_RULES, "progress")  # builds the suite once
    t0 = time.perf_counter()
    for _ in range(runs):
        broken = quality.row_rules(data, quality.PROGRESS_ROW_RULES, "progress").notna().sum()
    seconds = (time.perf_counter() - t0) / runs
    if broken != rows // 10 * 2 + sum(1 for k in (3, 7) if rows % 10 > k):
        raise RuntimeError(f"{broken} rows broke a rule, expected two in ten")
    peak = peak_rss_mb()
    out.put(
        {"rows": rows, "import_mb": imported, "peak_mb": peak, "run_mb": peak - imported, "seconds_per_run": seconds}
    )


def measure(sizes: list[int], runs: int) -> list[dict[str, Any]]:
    ctx = mp.get_context("spawn")
    figures = []
    for rows in sizes:
        queue: mp.Queue = ctx.Queue()
        proc = ctx.Process(target=_measure, args=(rows, runs, queue))
        proc.start()
        figures.append(queue.get(timeout=600))
        proc.join()
    # The fixed cost per run: the two smallest sizes' times, extrapolated to zero rows.
    (a, b) = sorted(figures, key=lambda f: f["rows"])[:2]
    per_row = (b["seconds_per_run"] - a["seconds_per_run"]) / (b["rows"] - a["rows"])
    for f in figures:
        f["us_per_row"] = per_row * 1e6
        f["fixed_seconds_per_run"] = a["seconds_per_run"] - per_row * a["rows"]
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.gx_chunks", description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 50_000])
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args(argv)
    if len(args.sizes) < 2:
        p.error("give at least two chunk sizes (the fixed cost per run is told from two)")
    figures = measure(args.sizes, args.runs)
    print(f"{'rows':>8}{'import MB':>11}{'peak MB':>9}{'run MB':>8}{'s/run':>8}{'us/row':>8}{'fixed s':>9}")
    for f in figures:
        print(
            f"{f['rows']:>8}{f['import_mb']:>11.0f}{f['peak_mb']:>9.0f}{f['run_mb']:>8.0f}"
            f"{f['seconds_per_run']:>8.3f}{f['us_per_row']:>8.2f}{f['fixed_seconds_per_run']:>9.3f}"
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
