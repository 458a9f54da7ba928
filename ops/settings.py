"""The operator side's one settings object, read from the environment: where the declared state and
the archives are, where each replica reports, and how Redis and TorchServe are reached and started.
The native stack, compose and Kubernetes set the same variables (docs/configuration.md).

What the environment does not set is read from the file the native stack writes as it starts,
VAR_DIR/stack.env (``var/stack.env`` from the checkout, as `make up` is run): so `python -m ops.models`
finds the stack's store, reports, Redis and Redis's password the way the stack started them, with no
variable typed in front of it. Compose's ``ops`` service and the Kubernetes pods set theirs in the
environment, and the environment wins.
"""

from __future__ import annotations

import socket
from functools import cached_property
from pathlib import Path

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from inference.formats import DEFAULT_MAX_UPLOAD_BYTES

DECLARED_FILE_NAME = "models.yaml"
STACK_FILE_NAME = "stack.env"  # in VAR_DIR: what scripts/stack.sh started the stack with, for these tools
NATIVE_REDIS_PASSWORD = Path("redis/password")  # in VAR_DIR: where scripts/stack.sh keeps Redis's password
NATIVE_API_KEY_PEPPER = Path("api-keys/pepper")  # in VAR_DIR: where scripts/stack.sh keeps the keys' pepper


class OpsSettings(BaseSettings):
    """Without the store's settings: those are StoreToolSettings' (ops.stack_database), for the tools
    that open the store."""

    model_config = SettingsConfigDict(env_file=None, case_sensitive=False, extra="ignore")

    var_dir: Path = Path("var")  # VAR_DIR: the native stack's state, as scripts/stack.sh reads it
    model_store: Path = Path("model_store")  # MODEL_STORE: the archives
    models_file: Path | None = None  # MODELS_FILE: the declared state (default MODEL_STORE/models.yaml)
    # Where every replica's reconciler writes what it serves (one JSON file per replica), read by
    # `ops.models show` and by the replica's own gateway.
    replica_status_dir: Path = Path("var/status")  # REPLICA_STATUS_DIR
    replica_id: str = Field(default_factory=socket.gethostname)  # REPLICA_ID (the pod's or container's name)
    # REPLICA_STATUS_FILE: where this replica reports, when not REPLICA_STATUS_DIR/REPLICA_ID.json (a
    # Kubernetes pod reports in a volume of its own, to its own gateway alone)
    replica_status_file: Path | None = None
    stale_after_seconds: float = 30.0  # STALE_AFTER_SECONDS: an older report is not a running replica

    # Where the gateways count a canary's comparisons (`ops.models promote` reads them): REDIS_URL, and
    # REDIS_PASSWORD_FILE (natively VAR_DIR/redis/password; both in VAR_DIR/stack.env).
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password_file: Path | None = None

    torchserve_management_url: str = "http://127.0.0.1:8081"  # TORCHSERVE_MANAGEMENT_URL
    torchserve_key_file: Path = Path("key_file.json")  # TORCHSERVE_KEY_FILE: TorchServe's, all three keys
    gateway_key_file: Path | None = None  # GATEWAY_KEY_FILE: written for the gateway, the inference key only
    reconcile_seconds: float = 2.0  # RECONCILE_SECONDS: how often the declared file and TorchServe are read
    ts_token_expiration_min: float = 60.0  # TS_TOKEN_EXPIRATION_MIN: the keys' lifetime, renewed at half

    # How `python -m ops.torchserve` starts TorchServe (the listeners keep config.properties' ports).
    ts_bind: str = "127.0.0.1"  # TS_BIND: the inference and management listeners' address
    ts_metrics_bind: str | None = None  # TS_METRICS_BIND: the metrics listener's (default TS_BIND)
    ts_inference_port: int = 8080  # TS_INFERENCE_PORT
    ts_management_port: int = 8081  # TS_MANAGEMENT_PORT
    ts_metrics_port: int = 8082  # TS_METRICS_PORT
    ts_grpc_port: int = 7070  # TS_GRPC_PORT
    ts_grpc_management_port: int = 7071  # TS_GRPC_MANAGEMENT_PORT
    ts_worker_port: int = 9000  # TS_WORKER_PORT: the first worker's socket port
    ts_workdir: Path = Path(".")  # TS_WORKDIR: key_file.json, logs and temporary files go here
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES  # MAX_UPLOAD_BYTES: the whole stack's upload limit
    # API_KEY_PEPPER_FILE: the secret clients' keys are hashed under (store.api_keys), the gateways' too.
    api_key_pepper_file: Path | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Arguments, then the environment, then the native stack's file in the VAR_DIR they name."""
        assert isinstance(init_settings, InitSettingsSource)
        given = init_settings.init_kwargs.get("var_dir") or env_settings().get("var_dir")
        var_dir = Path(given or cls.model_fields["var_dir"].default)
        stack_file = DotEnvSettingsSource(settings_cls, env_file=var_dir / STACK_FILE_NAME)
        return init_settings, env_settings, stack_file, file_secret_settings

    @property
    def stack_file(self) -> Path:
        return self.var_dir / STACK_FILE_NAME

    @property
    def native_redis_password_file(self) -> Path:
        return self.var_dir / NATIVE_REDIS_PASSWORD

    @property
    def native_api_key_pepper_file(self) -> Path:
        return self.var_dir / NATIVE_API_KEY_PEPPER

    @cached_property
    def declared_file(self) -> Path:
        return self.models_file or self.model_store / DECLARED_FILE_NAME

    @cached_property
    def status_file(self) -> Path:
        """This replica's report."""
        return self.replica_status_file or self.replica_status_dir / f"{self.replica_id}.json"
