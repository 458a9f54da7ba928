"""TorchServe's runtime configuration: the shipped file with only listeners, paths, the request limit and
the keys' lifetime changed, and nothing that loosens it."""

from __future__ import annotations

from pathlib import Path

from inference.formats import batch_body_bytes
from ops.settings import OpsSettings
from ops.torchserve import REPO
from ops.torchserve_config import overrides, render


def rendered(**settings: object) -> dict[str, str]:
    text = render((REPO / "config.properties").read_text(), overrides(OpsSettings(**settings)))  # type: ignore[arg-type]
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))


def test_listeners_and_paths_follow_the_settings_and_grpc_stays_on_loopback(tmp_path: Path):
    config = rendered(
        ts_bind="0.0.0.0", ts_metrics_bind="10.1.2.3", ts_inference_port=18080, model_store=tmp_path
    )
    assert config["inference_address"] == "http://0.0.0.0:18080"
    assert config["metrics_address"] == "http://10.1.2.3:8082"
    assert config["grpc_inference_address"] == config["grpc_management_address"] == "127.0.0.1"
    assert config["model_store"] == str(tmp_path.resolve())


def test_the_request_limit_takes_a_batch_in_one_request_and_security_stays_as_shipped():
    config = rendered(max_upload_bytes=8 << 20, ts_token_expiration_min=1.5)
    assert config["max_request_size"] == str(batch_body_bytes(8 << 20))
    assert config["token_expiration_min"] == "1.5"
    assert config["disable_token_authorization"] == "false"
    assert config["allowed_urls"] == "(?!)"
    assert "load_models" not in config  # the reconciler registers the declared state
