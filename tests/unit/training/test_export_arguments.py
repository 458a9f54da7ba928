"""export refuses a batch delay TorchServe would misread."""

import argparse

import pytest

from training.export import add_arguments


def parse(*args: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["runs/demo", *args])


def test_the_batch_delay_defaults_to_the_shortest_an_archive_can_carry():
    assert parse().max_batch_delay == 1


def test_a_zero_batch_delay_is_refused_with_the_reason(capsys):
    with pytest.raises(SystemExit):
        parse("--max-batch-delay", "0")
    assert "waits its default 100 ms" in capsys.readouterr().err
