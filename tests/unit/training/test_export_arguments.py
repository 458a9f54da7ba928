"""export refuses a batch delay TorchServe would misread, and to replace an archive or a declared version."""

import argparse

import pytest

from training.export import add_arguments, refusal


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


def test_an_existing_archive_is_not_overwritten(tmp_path):
    (tmp_path / "fromsoft.mar").write_bytes(b"served somewhere")
    args = parse("--model-store", str(tmp_path))
    assert "fromsoft.mar exists" in str(refusal(args))
    assert refusal(parse("--model-store", str(tmp_path), "--archive-name", "fromsoft-2.0")) is None


def test_a_declared_version_is_not_reused(tmp_path):
    (tmp_path / "models.yaml").write_text(
        'models: {fromsoft: {default: "1.0", versions: {"1.0": {archive: fromsoft.mar}}}}'
    )
    reused = parse("--model-store", str(tmp_path), "--archive-name", "fromsoft-retrained")
    assert "fromsoft 1.0 is already declared" in str(refusal(reused))
    assert refusal(parse("--model-store", str(tmp_path), "--archive-name", "x", "--version", "1.1")) is None
