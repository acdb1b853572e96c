"""The typed models in src/paygate/_models.py are generated from the
OpenAPI document the server serves (/v1/openapi.json) by the pinned
datamodel-code-generator; this test regenerates them and fails when the
committed file is not current. To update it after an API change:
    PAYGATE_REGENERATE_MODELS=1 sdk/python/run.sh tests/test_models.py"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

MODELS = Path(__file__).resolve().parents[1] / "src" / "paygate" / "_models.py"
GENERATOR_OPTIONS = [
    "--input-file-type", "openapi",
    "--output-model-type", "typing.TypedDict",
    "--target-python-version", "3.10",
    "--disable-timestamp",
    "--use-schema-description",
    "--formatters", "black", "isort",
]


def served_document(server) -> bytes:
    with httpx.Client(verify=server.tls(), trust_env=False) as http:
        answer = http.get(server.base_url + "/v1/openapi.json")
    answer.raise_for_status()
    return answer.content


def generate(server, tmp_path: Path) -> str:
    document = tmp_path / "openapi.json"
    document.write_bytes(served_document(server))
    output = tmp_path / "_models.py"
    subprocess.run(
        [sys.executable, "-m", "datamodel_code_generator", "--input", str(document), "--output", str(output), *GENERATOR_OPTIONS],
        check=True,
        cwd=tmp_path,
        capture_output=True,
    )
    return output.read_text()


def test_generated_models_are_current(server, tmp_path):
    fresh = generate(server, tmp_path)
    if os.environ.get("PAYGATE_REGENERATE_MODELS") == "1":
        MODELS.write_text(fresh)
    assert MODELS.read_text() == fresh, (
        "src/paygate/_models.py is not what the served OpenAPI document generates; "
        "rerun with PAYGATE_REGENERATE_MODELS=1"
    )


def test_the_models_import_and_describe_the_requests():
    from paygate import _models as m

    assert {"amount", "currency", "method", "card", "description", "metadata"} <= set(m.CreatePayment.__annotations__)
    assert "request_id" in m.Problem.__annotations__


def test_every_operation_of_the_served_document_has_a_method(server):
    """Each resource method's docstring names its route (``POST /v1/payments``):
    a route the server documents and no method names fails here."""
    resources = (MODELS.parent / "_resources.py").read_text()
    document = json.loads(served_document(server))
    missing = [
        f"{method.upper()} {path}"
        for path, operations in document["paths"].items()
        for method in operations
        if method in ("get", "post", "put", "delete", "patch")
        and f"``{method.upper()} {path}``" not in resources
    ]
    assert not missing, f"routes without an SDK method: {missing}"
