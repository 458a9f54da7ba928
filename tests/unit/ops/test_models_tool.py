"""`python -m ops.models`: each command's edit of the declared file, what it refuses, and its wait for
every running replica to report the new revision converged."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from inference import replica_status
from inference.replica_status import ReplicaStatus
from ops import declared, models
from tests.unit.ops.conftest import MakeArchive


@pytest.fixture
def env(store: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    status = tmp_path / "status"
    monkeypatch.setenv("MODEL_STORE", str(store))
    monkeypatch.setenv("REPLICA_STATUS_DIR", str(status))
    monkeypatch.delenv("MODELS_FILE", raising=False)
    return status


def run(*argv: str) -> int:
    return models.main([*argv, "--no-wait"])


def state(store: Path) -> dict:
    return declared.parse((store / "models.yaml").read_text()).document()["models"]


def test_add_declares_a_model_then_versions_with_their_digest(env, store, make_archive: MakeArchive):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0", weights=b"v2")
    assert run("add", "fromsoft.mar") == 0
    assert run("add", "fromsoft-2.0.mar", "--workers", "2", "--batch-size", "8") == 0
    model = state(store)["fromsoft"]
    assert model["default"] == "1.0"
    assert model["versions"]["2.0"]["workers"] == 2
    assert model["versions"]["2.0"]["batch_size"] == 8
    assert len(model["versions"]["1.0"]["digest"]) == 12
    assert (store / "models.yaml").read_text().startswith("# The declared model state")


def test_set_default_scale_and_remove(env, store, make_archive: MakeArchive):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0")
    run("add", "fromsoft.mar")
    run("add", "fromsoft-2.0.mar")
    assert run("set-default", "fromsoft", "2.0") == 0
    assert run("scale", "fromsoft", "--workers", "3") == 0  # the default version
    assert run("remove", "fromsoft", "1.0") == 0
    assert state(store) == {
        "fromsoft": {"default": "2.0", "versions": {"2.0": {**state(store)["fromsoft"]["versions"]["2.0"]}}}
    }
    assert state(store)["fromsoft"]["versions"]["2.0"]["workers"] == 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["add", "fromsoft.mar"], "fromsoft 1.0 is already declared"),
        (["add", "../fromsoft.mar"], "archive name '../fromsoft' is not allowed"),
        (["add", "missing.mar"], "missing.mar is not in the model store"),
        (["set-default", "fromsoft", "3.0"], "fromsoft 3.0 is not declared"),
        (["set-default", "other", "1.0"], "no model 'other' is declared"),
        (["remove", "fromsoft", "1.0"], "is the default version: make another the default first"),
        (["scale", "fromsoft", "--workers", "0"], "workers: Input should be greater than or equal to 1"),
        (["set-default", "x/../../token?type=management", "1.0"], "is not allowed"),
    ],
)
def test_what_the_tool_refuses_leaves_the_file_as_it_was(
    env, store, make_archive: MakeArchive, capsys, argv, message
):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    run("add", "fromsoft.mar")
    before = (store / "models.yaml").read_text()
    capsys.readouterr()
    assert run(*argv) == 2
    assert message in capsys.readouterr().err
    assert (store / "models.yaml").read_text() == before


def test_the_default_is_not_replaced_in_place_even_with_force(env, store, make_archive: MakeArchive, capsys):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    run("add", "fromsoft.mar")
    make_archive("fromsoft.mar", "fromsoft", "1.0", weights=b"retrained")
    time.sleep(0.01)
    assert run("add", "fromsoft.mar", "--force") == 2
    assert "is the default version: it is not replaced in place" in capsys.readouterr().err


def test_apply_checks_a_file_and_installs_it(env, store, make_archive: MakeArchive, tmp_path, capsys):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    wanted = tmp_path / "wanted.yaml"
    wanted.write_text('models: {fromsoft: {default: "1.0", versions: {"1.0": {archive: fromsoft.mar}}}}')
    assert run("apply", str(wanted)) == 0
    assert state(store)["fromsoft"]["default"] == "1.0"
    wanted.write_text('models: {fromsoft: {default: "1.0", versions: {"1.0": {archive: gone.mar}}}}')
    assert run("apply", str(wanted)) == 2
    assert (
        "models.fromsoft.versions.1.0.archive: gone.mar is not in the model store" in capsys.readouterr().err
    )


def report(status_dir: Path, replica: str, revision: str | None, converged: bool, age: float = 0) -> None:
    status = ReplicaStatus(
        replica=replica, revision=revision, converged=converged, updated_at=time.time() - age
    )
    replica_status.write(status, status_dir / f"{replica}.json")


def test_the_tool_waits_for_every_running_replica_and_names_the_one_that_lags(
    env, store, make_archive: MakeArchive, capsys
):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0")
    run("add", "fromsoft.mar")
    report(env, "a", "old", True)
    report(env, "b", "old", True)
    report(env, "gone", "old", False, age=300)  # stopped long ago: not waited for

    def replicas_follow() -> None:  # a converges quickly; b never does
        while not (store / "models.yaml").read_text().count("2.0"):
            time.sleep(0.05)
        revision = declared.revision((store / "models.yaml").read_text())
        report(env, "a", revision, True)

    follower = threading.Thread(target=replicas_follow)
    follower.start()
    assert models.main(["add", "fromsoft-2.0.mar", "--timeout", "2"]) == 1
    follower.join()
    err = capsys.readouterr().err
    assert "replica b has not converged" in err
    assert "replica a" not in err
    assert "gone" not in err

    revision = declared.revision((store / "models.yaml").read_text())
    report(env, "b", revision, True)
    assert models.main(["apply", "--timeout", "2"]) == 0


def test_show_lists_the_declared_state_and_each_replica(env, store, make_archive: MakeArchive, capsys):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    run("add", "fromsoft.mar")
    revision = declared.revision((store / "models.yaml").read_text())
    report(env, "a", revision, True)
    report(env, "b", "old", False)
    capsys.readouterr()
    assert models.main(["show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["declared"]["revision"] == revision
    assert [(r["replica"], r["converged"], r["serving"]) for r in shown["replicas"]] == [
        ("a", True, {}),
        ("b", False, {}),
    ]
    assert models.main(["show"]) == 0
    out = capsys.readouterr().out
    assert "a: converged" in out
    assert "b: DRIFT" in out


def test_a_canary_is_a_declared_version_other_than_the_default(env, store, make_archive: MakeArchive, capsys):
    make_archive("fromsoft.mar", "fromsoft", "1.0")
    make_archive("fromsoft-2.0.mar", "fromsoft", "2.0")
    run("add", "fromsoft.mar")
    capsys.readouterr()
    assert run("canary", "fromsoft", "2.0", "--share", "0.2") == 2
    assert "fromsoft 2.0 is not declared: `add` its archive first" in capsys.readouterr().err
    run("add", "fromsoft-2.0.mar")
    assert run("canary", "fromsoft", "2.0", "--share", "0.2") == 0
    assert state(store)["fromsoft"]["canary"] == {"version": "2.0", "share": 0.2}
    for argv, message in [
        (["canary", "fromsoft", "1.0"], "canary '1.0' is the default version"),
        (["canary", "fromsoft", "2.0", "--share", "1.5"], "models.fromsoft.canary.share: Input"),
        (["remove", "fromsoft", "2.0"], "fromsoft 2.0 is the canary: `canary fromsoft --off` first"),
        (["set-default", "fromsoft", "2.0"], "`promote fromsoft` makes it the default"),
        (["canary", "fromsoft"], "give a version (and --share), or --off"),
    ]:
        assert run(*argv) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert run("canary", "fromsoft", "--off") == 0
    assert "canary" not in state(store)["fromsoft"]


def test_promotion_is_judged_by_the_named_thresholds():
    from inference.canary import PROMOTION, Figures
    from ops.models import parser
    from ops.promotion import described, judged

    few = Figures(agree=PROMOTION.min_comparisons - 1, disagree=0)
    assert (
        judged(few) == f"{PROMOTION.min_comparisons - 1} comparisons, fewer than {PROMOTION.min_comparisons}"
    )
    disagreeing = Figures(agree=80, disagree=20, default_unknown=10, candidate_unknown=50)
    assert judged(disagreeing) == "agreement 80.0%, under 95%"
    failing = Figures(agree=100, error=5)
    assert judged(failing) == "4.8% of its calls failed, over 2%"
    assert judged(Figures(agree=97, disagree=3, error=1)) is None
    promote = parser().parse_args(["promote", "fromsoft"])  # the tool's defaults are the constants
    assert (promote.min_comparisons, promote.min_agreement, promote.max_error_share) == (
        PROMOTION.min_comparisons,
        PROMOTION.min_agreement,
        PROMOTION.max_error_share,
    )
    text = described("1.0", "2.0", disagreeing)
    assert 'agreement 80.0%; "Not recognised" 10.0% (1.0) and 50.0% (2.0)' in text


def test_the_operations_guide_states_the_promotion_thresholds_the_tool_applies():
    from inference.canary import PROMOTION

    guide = (Path(__file__).resolve().parents[3] / "docs" / "operations.md").read_text()
    stated = (
        f"at least {PROMOTION.min_comparisons} comparisons, "
        f"agreement at least {PROMOTION.min_agreement:.0%}, "
        f"and at most {PROMOTION.max_error_share:.0%} of the canary's calls failed"
    )
    assert stated in " ".join(guide.split())
