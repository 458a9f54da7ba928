"""export refuses a batch delay TorchServe would misread, a name that would put the archive outside the
model store, and to replace an archive or a declared version."""

import argparse

import pytest

from training.__main__ import main as training_cli
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


@pytest.mark.parametrize("flag", ["--name", "--archive-name"])
@pytest.mark.parametrize("name", ["../../x", "sub/fromsoft", "/tmp/fromsoft", ".hidden", "-x", "a b", ""])
def test_a_name_outside_torch_model_archivers_rule_is_refused_with_the_rule(flag, name, capsys):
    with pytest.raises(SystemExit):
        parse(f"{flag}={name}")
    assert "torch-model-archiver's rule" in capsys.readouterr().err


def test_names_the_archiver_accepts_are_kept():
    args = parse("--name", "fromsoft", "--archive-name", "fromsoft-2.0_b")
    assert (args.name, args.archive_name) == ("fromsoft", "fromsoft-2.0_b")


def test_a_name_from_a_config_file_is_checked_too(tmp_path, capsys):
    config = tmp_path / "export.yaml"
    config.write_text("archive_name: ../../outside\n")
    with pytest.raises(SystemExit):
        training_cli(["export", str(tmp_path), "--config", str(config)])
    assert "torch-model-archiver's rule" in capsys.readouterr().err
