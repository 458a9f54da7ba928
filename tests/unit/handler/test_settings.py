"""The worker's settings: the environment overrides the archive's model config, which overrides the
defaults."""

from handler.settings import ServingSettings


def test_defaults_apply_when_nothing_is_set():
    settings = ServingSettings.load({}, env={})
    assert settings.threads == 1
    assert settings.spin_wait is False


def test_the_archive_sets_what_the_environment_leaves():
    settings = ServingSettings.load({"threads": 2, "spin_wait": True}, env={})
    assert settings.threads == 2
    assert settings.spin_wait is True


def test_the_environment_wins_over_the_archive():
    env = {"FROMSOFT_THREADS": "1", "FROMSOFT_SPIN_WAIT": "0", "MAX_UPLOAD_BYTES": "1000"}
    settings = ServingSettings.load({"threads": 2, "spin_wait": True, "max_upload_bytes": 5}, env=env)
    assert (settings.threads, settings.spin_wait, settings.max_upload_bytes) == (1, False, 1000)
