"""The reference service's routes, as FATE Flow 1.11 and fate-registry call them."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from requests_toolbelt import MultipartEncoder

from fate_reference_service import Config, create_app, feature_row
from fate_reference_service.decisions import client_signature, site_signature

APP_KEY, SECRET, SITE_KEY = "client-1", "client-secret", "shared-site-key"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    config = Config(
        data_dir=tmp_path,
        app_keys={APP_KEY: SECRET},
        site_key=SITE_KEY,
        allowed_parties=frozenset({"9999"}),
    )
    with TestClient(create_app(config)) as test_client:
        yield test_client


def request_body(job_id: str = "202201010000", **parameters: object) -> dict[str, str]:
    sign = hashlib.md5(job_id.encode()).hexdigest()
    return {"requestBody": json.dumps({**parameters, "job_id": job_id, "sign": sign})}


def upload(client: TestClient, ids: bytes, **parameters: object) -> dict[str, object]:
    """As FATE Flow 1.11 uploads: multipart field ``file``, filename ``id``."""
    encoder = MultipartEncoder(fields={"file": ("id", ids, "application/octet-stream")})
    response = client.post(
        "/v1/upload",
        params=request_body(**parameters),
        content=encoder.to_string(),
        headers={"Content-Type": encoder.content_type},
    )
    assert response.status_code == 200
    return dict(response.json())


def wait(client: TestClient, job_id: str) -> str:
    for _ in range(500):
        reply = client.post("/v1/query", json={"jobId": job_id}).json()
        assert reply["status"] == reply["data"]["status"]  # both readings
        if reply["status"] != "running":
            return str(reply["status"])
        time.sleep(0.01)
    raise AssertionError("job did not finish")


def download(client: TestClient, job_id: str) -> bytes:
    sign = hashlib.md5(job_id.encode()).hexdigest()
    body = json.dumps({"jobId": job_id, "sign": sign})
    response = client.get("/v1/download", params={"requestBody": body})
    assert response.status_code == 200, response.text
    assert int(response.headers["content-length"]) == len(response.content)
    return response.content


def test_upload_query_download_gives_the_features_of_each_id(client: TestClient) -> None:
    reply = upload(client, b"phone\n13800000000\n13900000000\n")
    assert reply["code"] == 0
    job_id = str(reply["data"]["jobId"])  # type: ignore[index]
    assert wait(client, job_id) == "success"
    assert download(client, job_id).decode() == (
        "phone,x0,x1,x2\n" + feature_row("13800000000") + feature_row("13900000000")
    )


def test_features_may_be_chosen(client: TestClient) -> None:
    job_id = str(upload(client, b"id\n1\n", features=["x2"])["data"]["jobId"])  # type: ignore[index]
    wait(client, job_id)
    assert download(client, job_id).decode() == "id,x2\n" + feature_row("1", ["x2"])


def test_unknown_features_are_refused_at_upload(client: TestClient) -> None:
    reply = upload(client, b"id\n1\n", features=["x9"])
    assert reply["code"] == 102 and "features must be a list" in str(reply["msg"])


def test_an_upload_labelled_octet_stream_as_the_published_example_is_read(
    client: TestClient,
) -> None:
    encoder = MultipartEncoder(fields={"file": ("id", b"id\n5\n", "application/octet-stream")})
    response = client.post(
        "/v1/upload",
        params=request_body(),
        content=encoder.to_string(),
        headers={"Content-Type": "application/octet-stream"},
    )
    job_id = response.json()["data"]["jobId"]
    wait(client, job_id)
    assert download(client, job_id).decode() == "id,x0,x1,x2\n" + feature_row("5")


def test_a_wrong_sign_is_refused(client: TestClient) -> None:
    params = {"requestBody": json.dumps({"job_id": "j1", "sign": "0" * 32})}
    reply = client.post("/v1/upload", params=params, content=b"id\n1\n").json()
    assert reply["code"] == 109


def test_download_of_an_unfinished_or_unknown_job_is_not_a_feature_file(
    client: TestClient,
) -> None:
    response = client.get("/v1/download", params={"requestBody": json.dumps({"jobId": "nope"})})
    assert response.status_code == 404 and response.json()["code"] == 102


def test_client_authentication_checks_fate_s_hmac_signature(client: TestClient) -> None:
    timestamp = str(int(time.time() * 1000))
    body = '{"job_id": "1"}'
    signature = client_signature(SECRET, timestamp, "n1", APP_KEY, "/v1/job/query?", body)
    headers = {"TIMESTAMP": timestamp, "NONCE": "n1", "APP_KEY": APP_KEY, "SIGNATURE": signature}
    request = {"full_path": "/v1/job/query?", "headers": headers, "data": body, "json": {}}
    assert client.post("/v1/client_authentication", json=request).json()["code"] == 0
    lower = {k.lower(): v for k, v in headers.items()}  # as fate-registry forwards them
    assert (
        client.post("/v1/client_authentication", json={**request, "headers": lower}).json()["code"]
        == 0
    )
    forged = {**request, "data": '{"job_id": "2"}'}
    assert client.post("/v1/client_authentication", json=forged).json()["code"] == 109


def test_a_signature_verifies_and_a_changed_body_does_not(client: TestClient) -> None:
    signed = client.post("/v1/signature", json={"party_id": "9999", "body": {"a": 1}}).json()
    assert signed["site_signature"] == signed["data"] == site_signature(SITE_KEY, "9999", {"a": 1})
    check = {"src_party_id": "9999", "site_signature": signed["data"], "body": {"a": 1}}
    assert client.post("/v1/site_authentication", json=check).json()["code"] == 0
    changed = {**check, "body": {"a": 2}}
    assert client.post("/v1/site_authentication", json=changed).json()["code"] == 109
    unsigned = {**check, "site_signature": None}
    assert client.post("/v1/site_authentication", json=unsigned).json()["code"] == 109


def test_permission_allows_listed_parties_only(client: TestClient) -> None:
    job = {"src_role": None, "src_party_id": "9999", "component_list": ["reader"]}
    assert client.post("/v1/permission", json=job).json()["code"] == 0
    other = {**job, "src_party_id": "10000"}
    assert client.post("/v1/permission", json=other).json()["code"] == 108
