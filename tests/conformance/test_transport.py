"""API.md sections 1 and 2 through `requests`, an ordinary Python client."""

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
