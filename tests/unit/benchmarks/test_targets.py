"""make bench's verdicts come from the target table: each row passes or misses on its own bound, and a
figure the run lacks leaves its row out rather than failing the report."""

from benchmarks.suite.targets import TARGETS, verdicts


def rows_by_key(targets: dict[str, float]) -> dict[str, str]:
    lines = verdicts(targets, [1, 2, 4, 8])
    shown = {t.key: t.goal.format(low=1, high=8) for t in TARGETS}
    return {key: line for key, goal in shown.items() for line in lines if line.startswith(f"| {goal} |")}


def test_each_target_passes_at_its_bound_and_misses_beyond_it():
    at_bound = {t.key: t.bound + (1e-9 if t.compare == ">" else 0) for t in TARGETS}
    assert all(line.endswith("| PASS |") for line in rows_by_key(at_bound).values())
    beyond = {t.key: t.bound + (-1 if t.compare.startswith(">") else 1) for t in TARGETS}
    rows = rows_by_key(beyond)
    assert len(rows) == len(TARGETS)
    assert all(line.endswith("| MISS |") for line in rows.values())


def test_a_missing_figure_leaves_its_row_out_and_units_are_shown():
    rows = rows_by_key({"unit_idle_rss_mb": 790.4, "start_to_first_answer_s": 9.87, "ours_vs_stock": 2.0})
    assert set(rows) == {"unit_idle_rss_mb", "start_to_first_answer_s", "ours_vs_stock"}
    assert "| 790 MB | PASS |" in rows["unit_idle_rss_mb"]
    assert "| 9.87 s | PASS |" in rows["start_to_first_answer_s"]
    assert "| 2.00x | PASS |" in rows["ours_vs_stock"]
