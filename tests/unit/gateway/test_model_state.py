"""The gateway's view of the model comes from its replica's report (inference.replica_status): a new default
is seen on the next request, a missing or unreadable report keeps the last view, and the replica is
ready only once its reconciler converged and the default has a READY worker."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from gateway.errors import ApiError
from gateway.model_state import ModelState
from inference import replica_status
from inference.labels import LABELS
from inference.replica_status import ModelView, ReplicaStatus, VersionView, Worker


def report(
    default: str,
    ready: bool = True,
    status: str = "READY",
    labels: tuple[str, ...] = (),
    model: str = "fromsoft",
) -> ReplicaStatus:
    """``labels``: the games each version's handler says it answers with (none: an older description)."""
    games = [{"label": label, "name": label.replace("_", " ").title()} for label in labels]
    versions = [
        VersionView(
            version=v,
            archive=f"fromsoft-{v}.mar",
            workers=[Worker(id="9000", status=status, pid=1)],
            digest=f"{v[0]}" * 12,
            description={
                "preprocessing_version": f"pre-{v}",
                "model": {"digest": f"{v[0]}" * 12},
                **({"labels": games} if games else {}),
            },
        )
        for v in ("1.0", "2.0")
    ]
    view = ModelView(default=default, declared_default=default, versions=versions)
    return ReplicaStatus(replica="1", ready=ready, converged=ready, models={model: view})


def test_a_new_default_is_seen_on_the_next_request(tmp_path: Path):
    path = tmp_path / "1.json"
    replica_status.write(report("1.0"), path)
    state = ModelState(path, "fromsoft", refresh_seconds=1)
    assert (state.current_version(), state.digest, state.preprocessing_version) == (
        "1.0",
        "1" * 12,
        "pre-1.0",
    )
    replica_status.write(report("2.0"), path)
    assert (state.current_version(), state.digest, state.preprocessing_version) == (
        "2.0",
        "2" * 12,
        "pre-2.0",
    )
    assert state.view()["models"][0]["versions"] == [
        {"version": "1.0", "default": False, "workers": [{"id": "9000", "status": "READY"}]},
        {"version": "2.0", "default": True, "workers": [{"id": "9000", "status": "READY"}]},
    ]


def test_an_unreadable_report_keeps_the_last_view(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    path = tmp_path / "1.json"
    replica_status.write(report("1.0"), path)
    state = ModelState(path, "fromsoft", refresh_seconds=1)
    state.refresh()
    caplog.set_level(logging.INFO, logger="gateway.model_state")
    path.write_text('{"replica": "1", "mod')  # not what the reconciler writes (it replaces whole files)
    assert state.current_version() == "1.0"
    path.unlink()
    assert state.current_version() == "1.0"
    assert len([r for r in caplog.records if "no report from the replica's reconciler" in r.message]) == 2


def test_without_a_report_no_model_is_served(tmp_path: Path):
    for state in (ModelState(tmp_path / "none.json", "fromsoft", 1), ModelState(None, "fromsoft", 1)):
        with pytest.raises(ApiError) as refused:
            state.current_version()
        assert (refused.value.status, refused.value.code) == (503, "model_unavailable")
        assert not state.ready


def test_ready_means_converged_with_a_ready_default(tmp_path: Path):
    path = tmp_path / "1.json"
    state = ModelState(path, "fromsoft", refresh_seconds=1)
    for written, expected in [
        (report("1.0", ready=False), False),
        (report("1.0", status="UNLOADING"), False),
        (report("1.0"), True),
    ]:
        replica_status.write(written, path)
        state.refresh()
        assert state.ready is expected


def answers_series(model: str, label: str) -> float | None:
    """gateway_answers_total for ``label`` of version 1.0: 0 once its series exists, None before."""
    return REGISTRY.get_sample_value(
        "gateway_answers_total", {"model": model, "version": "1.0", "label": label}
    )


def test_the_served_models_labels_name_the_drift_series_not_the_gateways_table(tmp_path: Path):
    """A model trained on a table with another game: its drift series are its own labels, whatever the
    gateway's table says, and so are the games a vote may name (gateway.feedback_form)."""
    path = tmp_path / "1.json"
    replica_status.write(report("1.0", labels=("sekiro", "armored_core"), model="drift-labels-test"), path)
    state = ModelState(path, "drift-labels-test", refresh_seconds=1)
    assert state.served_labels() == ("sekiro", "armored_core")
    assert answers_series("drift-labels-test", "armored_core") == 0
    assert answers_series("drift-labels-test", "unknown") == 0
    assert answers_series("drift-labels-test", "elden_ring") is None  # the gateway's table's, not the model's


def test_without_labels_in_the_description_the_gateways_table_names_them(tmp_path: Path):
    path = tmp_path / "1.json"
    replica_status.write(report("1.0", model="table-labels-test"), path)
    state = ModelState(path, "table-labels-test", refresh_seconds=1)
    assert state.served_labels() == LABELS
    assert all(answers_series("table-labels-test", label) == 0 for label in LABELS)
    assert ModelState(None, "no-report", 1).served_labels() == LABELS
