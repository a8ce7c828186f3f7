"""The benchmark runs end to end on 10,000 records (a check that it works, not a timing).

Outside the test suite, which it slowed by 2-4 minutes on 2 cores: ``make bench-smoke`` runs it.
"""

from __future__ import annotations

import json


def test_pipeline_benchmark_smoke(tmp_path):
    from bench import pipeline

    out = tmp_path / "bench.json"
    assert pipeline.main(["--smoke", "--out", str(out)]) == 0
    figures = json.loads(out.read_text())
    assert 5_000 <= figures["rows"] <= 15_000
    assert figures["floor"]["rows"] == figures["to_sql"]["rows"] == figures["rows"]
    assert figures["initial"]["rows_written"] > figures["rows"]  # daily rows plus current rows
    # The reference COPY fills both targets with the rows the initial load writes.
    assert figures["both_targets"]["rows"] == figures["initial"]["rows_written"]
    assert figures["no_change"]["rows_written"] == 0
    assert 0 < figures["changed_10pct"]["rows_written"] < figures["initial"]["rows_written"]
    # A day on time: its own rows into the daily table, its learners' current progress updated.
    assert 0 < figures["new_day"]["rows_written"] < figures["initial"]["rows_written"]
    assert figures["registry"]["dags"] >= 2 * figures["registry"]["connectors"]
    assert figures["end_to_end"]["state"].endswith("success")
    assert figures["end_to_end"]["records"] >= figures["rows"]
    assert set(figures["steps"]) == {
        "extract_courses",
        "transform_courses",
        "validate_courses",
        "load_courses",
        "extract_progress",
        "transform_progress",
        "validate_progress",
        "load_progress",
    }
    assert all(step["peak_rss_mb"] > 0 for step in figures["steps"].values())
    assert len(figures["targets_held"]) == 3
    assert all(isinstance(held, bool) for held in figures["targets_held"].values())
    # The extract against pre-rendered pages reads what the extract step read from the simulator.
    assert figures["fetch"]["records"] == figures["steps"]["extract_progress"]["result"]
    assert 0 < figures["fetch"]["fetch_floor_seconds"] < figures["fetch"]["extract_seconds"]
    targets = figures["targets"]
    assert len(targets) == 7 and all(set(t) >= {"value", "limit", "holds"} for t in targets.values())
    # Where the day on time's load went: its slowest statements, each timed.
    statements = figures["new_day"]["statements"]
    assert statements and all(s["seconds"] >= 0 and s["statement"] for s in statements)
    for name in ("whole_dag_over_floor_1m", "extract_over_fetch_floor", "on_time_load_over_floor"):
        assert targets[name]["value"] > 0 and isinstance(targets[name]["holds"], bool), name


def test_extract_costs_smoke(capsys):
    from bench import extract_costs

    assert extract_costs.main(["--courses", "50", "--learners", "500", "--days", "3", "--reps", "1"]) == 0
    printed = capsys.readouterr().out
    out = json.loads(printed[: printed.index("\n}\n") + 2])
    assert out["records"] > 0 and out["pages"] > 0
    stages = out["stages"]
    assert list(stages) == ["fetch floor", "client", "decode", "screen", "hash", "serialise", "copy", "extract loop"]
    assert all(s["seconds"] > 0 for s in stages.values())
