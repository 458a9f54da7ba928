"""The gateway's OpenAPI schema describes the whole public API, and Schemathesis, fuzzing the live
gateway from it (a bounded number of examples, a fixed seed) with an API key, finds no 5xx, no error
outside the one shape, no answer that breaks the schema, and no route that takes a missing key where
one is required (/api/v1/me)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from launchers.gateway import feedback_env, gateway_env, start_gateway
from launchers.procs import LoopbackServer
from launchers.redis import RedisServer
from launchers.torchserve import TorchServe
from tests.support.dns_server import DnsServer
from tests.support.keys import make_key


@pytest.fixture(scope="module")
def schema_store(tmp_path_factory) -> dict[str, str]:
    return feedback_env(tmp_path_factory.mktemp("schema-store"))


@pytest.fixture(scope="module")
def open_gateway(
    torchserve: TorchServe, redis_server: RedisServer, dns_server: DnsServer, schema_store, tmp_path_factory
) -> Iterator[LoopbackServer]:
    # Images by URL: the test-only allow-list names a loopback address nothing listens on, and the DNS
    # server knows no name, so every URL Schemathesis invents is refused or fails on loopback: it fetches
    # nothing, anywhere.
    env = gateway_env(
        torchserve,
        redis_server.url,
        RATE_LIMIT="100000/minute",
        URL_FETCH_TEST_ALLOW="127.77.0.250/32",
        URL_FETCH_NAMESERVER=dns_server.address,
        **schema_store,
    )
    server = start_gateway(tmp_path_factory.mktemp("schema-gateway"), env)
    yield server
    server.stop()


def test_the_schema_describes_uploads_top_k_answers_and_every_error(open_gateway):
    schema = httpx.get(f"{open_gateway.url}/openapi.json").json()
    classify = schema["paths"]["/api/v1/classify"]["post"]
    content = classify["requestBody"]["content"]
    forms = content["multipart/form-data"]["schema"]["oneOf"]
    assert [form["required"] for form in forms] == [["file"], ["url"]]
    assert content["application/json"]["schema"]["required"] == ["url"]
    assert content["application/json"]["schema"]["properties"]["url"]["maxLength"] == 2048
    assert {"image/jpeg", "image/png", "image/webp"} <= set(content)
    assert classify["parameters"][0]["name"] == "top_k"
    assert {"200", "400", "413", "415", "422", "429", "502", "503", "504"} <= set(classify["responses"])
    error_ref = "#/components/schemas/ErrorBody"
    assert classify["responses"]["415"]["content"]["application/json"]["schema"]["$ref"] == error_ref
    assert "url_not_allowed" in classify["responses"]["422"]["description"]
    assert "url_fetch_failed" in classify["responses"]["502"]["description"]
    assert "url_fetch_timeout" in classify["responses"]["504"]["description"]
    assert "Retry-After" in classify["responses"]["429"]["headers"]
    assert "/api/v1/explain" in schema["paths"]
    many = schema["paths"]["/api/v1/classify/batch"]["post"]
    forms = many["requestBody"]["content"]["multipart/form-data"]["schema"]["anyOf"]
    assert [form["required"] for form in forms] == [["files"], ["url"]]
    files, urls = forms[0]["properties"]["files"], forms[0]["properties"]["url"]
    assert (files["type"], files["maxItems"], urls["maxItems"]) == ("array", 16, 16)
    assert many["requestBody"]["content"]["application/json"]["schema"]["required"] == ["urls"]
    assert [p["name"] for p in many["parameters"]] == ["top_k", "count"]
    assert {"200", "413", "422", "429", "503"} <= set(many["responses"])
    answer = many["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer["$ref"] == "#/components/schemas/BatchAnswer"
    assert "/api/v1/results/{sha256}" not in schema["paths"]  # the hash lookup is gone
    making = schema["paths"]["/api/v1/shares"]["post"]
    assert making["requestBody"]["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    assert {"201", "404", "413", "415", "422", "429", "503"} <= set(making["responses"])
    assert making["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ShareCreated"
    )
    shared = schema["paths"]["/api/v1/shares/{share_id}"]["get"]
    assert shared["parameters"][0]["schema"]["pattern"] == "^[A-Za-z0-9_-]{22}$"
    assert {"200", "404", "422", "429", "503"} <= set(shared["responses"])
    assert "sha256" not in schema["components"]["schemas"]["SharedAnswer"]["properties"]
    feedback = schema["paths"]["/api/v1/feedback"]["post"]
    forms = feedback["requestBody"]["content"]["multipart/form-data"]["schema"]["oneOf"]
    assert [(f["properties"]["verdict"]["enum"], f["required"]) for f in forms] == [
        (["right"], ["sha256", "verdict", "file"]),  # the image itself: a hash alone reveals nothing
        (["wrong"], ["sha256", "verdict", "file", "label"]),
        (["not_a_game"], ["sha256", "verdict", "file"]),
    ]
    assert "label" not in forms[2]["properties"]
    assert all(f["properties"]["share"]["enum"] == ["true", "false"] for f in forms)
    assert {"200", "201", "400", "413", "415", "422", "429", "503"} <= set(feedback["responses"])
    assert "404" not in feedback["responses"]  # nothing is looked up by hash
    assert "Retry-After" in feedback["responses"]["503"]["headers"]
    for operation in (classify, many, making, shared, feedback):  # Schemathesis checks it on every answer
        for response in operation["responses"].values():
            assert response["headers"]["Cache-Control"]["schema"]["const"] == "no-store"
    assert set(schema["components"]["securitySchemes"]) == {"ApiKey", "Bearer"}
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    me = schema["paths"]["/api/v1/me"]["get"]
    assert me["security"] == [{"ApiKey": []}, {"Bearer": []}]  # required: no anonymous alternative
    assert me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("KeyView")
    for operation in (classify, many, making, shared, feedback):
        assert {} in operation["security"]  # optional: the address's limits without one
        assert {"401", "403"} <= set(operation["responses"])
        assert {"RateLimit", "RateLimit-Policy"} <= set(operation["responses"]["200"]["headers"])
    assert "quota_exhausted" in classify["responses"]["429"]["description"]
    models = schema["paths"]["/api/v1/models"]["get"]["responses"]["200"]["content"]["application/json"]
    assert models["schema"]["$ref"] == "#/components/schemas/ModelsView"
    assert "/metrics" not in schema["paths"]
    assert "swagger" in httpx.get(f"{open_gateway.url}/docs").text.lower()


def test_schemathesis_finds_nothing_against_the_live_gateway(open_gateway, schema_store, tmp_path: Path):
    # positive_data_acceptance is left out: no JSON schema can say "bytes that decode as an image", so
    # the random bytes it takes for valid uploads are rightly refused with 400 or 415.
    options = ["--checks", "all", "--exclude-checks", "positive_data_acceptance", "--max-examples", "100"]
    options += ["--seed", "7", "--no-color", "--generation-database", "none"]
    # Every warning but validation_mismatch: feedback's rules that a schema cannot state (a file must be
    # the image sha256 names, a "right" label the game the model answered) refuse most generated forms.
    warnings = "missing_auth,missing_test_data,missing_deserializer,unused_openapi_auth,method_not_allowed"
    options += ["--warnings", warnings]
    options += ["--report", "junit", "--report-dir", str(tmp_path)]
    scopes = "classify,batch,url,feedback"
    key = make_key(schema_store, "fuzz", "--rate", "100000/minute", "--daily", "1000000", "--scopes", scopes)
    options += ["--header", f"X-API-Key: {key}"]  # every route keyed; its ignored_auth check drops it
    schemathesis = str(Path(sys.executable).parent / "schemathesis")
    run = subprocess.run(
        [schemathesis, "run", f"{open_gateway.url}/openapi.json", *options],
        cwd=tmp_path,  # its own cache folder (.schemathesis) lands there, not in the checkout
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "No issues found" in run.stdout, run.stdout[-5000:]
    # classify, batch, explain, shares (2), feedback, models, me, healthz, readyz
    assert "Tested: 10" in run.stdout


def test_the_fuzzed_urls_reached_nothing_but_the_dns_server(dns_server):
    # Schemathesis ran first (the order of this module): the names it invented were asked of the DNS
    # server on loopback, and answered with nothing.
    assert dns_server.asked, "Schemathesis sent no URL by name: the JSON bodies went untested"
    assert dns_server.zones == {}
