import ipaddress

import orjson
import pytest
import redis

from gateway.config import Settings
from gateway.errors import ApiError
from gateway.upstream import parse_answer


def test_settings_read_lists_and_numbers_from_the_environment(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 127.0.0.1")
    monkeypatch.setenv("CORS_ORIGINS", "https://a.example,https://b.example")
    monkeypatch.setenv("MAX_UPLOAD_BYTES", "1000")
    monkeypatch.setenv("RATE_LIMIT", "2/second")
    settings = Settings()
    assert settings.trusted_proxies == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("127.0.0.1/32"),
    ]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.max_upload_bytes == 1000
    assert settings.max_body_bytes > 1000
    assert settings.rate_limit == "2/second"


def test_defaults_trust_only_loopback_and_allow_no_cross_origin_calls(monkeypatch):
    for name in ("TRUSTED_PROXIES", "CORS_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert {str(n) for n in settings.trusted_proxies} == {"127.0.0.1/32", "::1/128"}
    assert settings.cors_origins == []


def response(status: int, json_body: object = None, text: str = "") -> tuple[int, bytes]:
    return status, orjson.dumps(json_body) if json_body is not None else text.encode()


@pytest.mark.parametrize(
    ("upstream", "status", "code"),
    [
        (
            response(415, {"error": {"code": "unsupported_media_type", "message": "m"}}),
            415,
            "unsupported_media_type",
        ),
        (response(400, {"error": {"code": "invalid_image", "message": "m"}}), 400, "invalid_image"),
        (response(413, {"error": {"code": "image_too_large", "message": "m"}}), 413, "image_too_large"),
        (response(413, text=""), 413, "payload_too_large"),
        (response(404, {"code": 404, "type": "ModelNotFoundException"}), 503, "model_unavailable"),
        (response(503, {"code": 503, "message": "No worker is available"}), 503, "overloaded"),
        (
            response(
                400, {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed"}
            ),
            503,
            "model_unavailable",
        ),
        (response(500, text="boom"), 503, "model_unavailable"),
    ],
)
def test_torchserve_answers_map_to_our_error_shape(upstream, status, code):
    with pytest.raises(ApiError) as caught:
        parse_answer(*upstream, "fromsoft")
    assert (caught.value.status, caught.value.code) == (status, code)
    if status == 503:
        assert caught.value.headers["Retry-After"]


def test_a_good_answer_passes_through():
    assert parse_answer(*response(200, {"label": "sekiro"}), "fromsoft") == {"label": "sekiro"}


def test_the_redis_password_comes_from_its_file_into_the_address(tmp_path):
    secret = tmp_path / "redis-password"
    secret.write_text("s3cr/t:+@\n")
    settings = Settings(redis_url="redis://redis:6379/0", redis_password_file=secret)
    address = settings.redis_address()
    assert address == "redis://:s3cr%2Ft%3A%2B%40@redis:6379/0"
    assert redis.Redis.from_url(address).connection_pool.connection_kwargs["password"] == "s3cr/t:+@"
    assert Settings(redis_url="redis://127.0.0.1:6379/0").redis_address() == "redis://127.0.0.1:6379/0"
