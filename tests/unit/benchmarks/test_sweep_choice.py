"""The sweep names the setting an archive can ship with the most images/s at 8 among the quick ones at 1."""

from benchmarks.suite.torchserve_sweep import Setting, best


def row(setting: Setting, p50_at_1: float, throughput_at_8: float) -> dict:
    return {
        "setting": setting.name,
        **setting.__dict__,
        "1": {"p50_ms": p50_at_1, "throughput": 100.0},
        "8": {"p50_ms": 50.0, "throughput": throughput_at_8},
    }


def test_the_most_throughput_at_8_among_those_within_a_fifth_of_the_quickest_at_1():
    rows = [
        row(Setting(1, 1), 8.0, 160),
        row(Setting(4, 1), 9.3, 189),  # within 20% of 8.0
        row(Setting(8, 2), 10.5, 207),  # more throughput, too slow alone
    ]
    assert best(rows, [1, 8])["setting"] == Setting(4, 1).name


def test_a_setting_only_registration_can_give_is_never_chosen():
    rows = [row(Setting(4, 0), 5.0, 300), row(Setting(4, 1), 9.3, 189)]
    assert best(rows, [1, 8])["setting"] == Setting(4, 1).name
    assert "register only" in Setting(4, 0).name
