"""docs/api.md sections 1 and 2 through `requests`, an ordinary Python client."""

import requests


def test_balance_over_https_with_the_generated_certificate(server):
    response = server.session().get(server.url("/v1/balance"))
    assert response.status_code == 200
    assert response.json()["object"] == "balance"
    assert response.headers["x-request-id"].startswith("req_")


def test_plain_http_is_answered_with_https_required(server):
    response = requests.get(server.url("/v1/balance").replace("https://", "http://"))
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "https_required"


def test_errors_are_problem_documents_with_a_catalog_entry(server):
    response = server.session(key="sk_test_not-a-key").get(server.url("/v1/balance"))
    problem = response.json()
    assert response.status_code == 401
    assert problem["code"] == "invalid_api_key"
    catalog = requests.get(server.url("/docs/errors"), headers={"accept": "application/json"}, verify=server.ca_path).json()
    assert problem["code"] in {entry["code"] for entry in catalog["errors"]}


def test_a_two_mebibyte_body_gets_payload_too_large_not_a_broken_connection(server):
    # `requests` writes the whole body before it reads the answer: the server
    # must read (and discard) it, or the client sees a TLS EOF instead of 413.
    s = server.session()
    s.headers["x-api-secret"] = server.secret
    body = b'{"name":"' + b"a" * (2 * 1024 * 1024) + b'"}'
    response = s.post(server.url("/v1/api-keys"), data=body, headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "payload_too_large"
    # The connection is still good for the next request.
    assert s.get(server.url("/v1/balance")).status_code == 200


def test_an_answer_before_the_body_is_read_still_reaches_the_client(server):
    # A 401 is decided before the body is read; the body is read anyway.
    s = server.session(key="sk_test_not-a-key")
    body = b'{"name":"' + b"a" * (768 * 1024) + b'"}'
    response = s.post(server.url("/v1/api-keys"), data=body, headers={"content-type": "application/json"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"
