"""Schema-driven API fuzzing: Schemathesis reads /v1/openapi.json from a real
server and drives every operation with the sandbox merchant's real
credentials, a bounded number of generated requests each (SCHEMA_EXAMPLES,
default 20), checking that nothing answers 5xx and that every status code,
content type, header and body is the one the document describes, that
requests the document forbids are refused, and that operations refuse
requests without credentials.

One check is left out: `positive_data_acceptance` (a request the schema
allows must be accepted). Paygate validates beyond what JSON Schema can say
(IBAN checksums, bitcoin addresses for the environment's network, extended
public keys, webhook URLs that resolve outside, balances, object states), so
a schema-valid request is often, and rightly, refused with 4xx.

The operations that end the caller's own credentials run against servers of
their own: a generated `PUT /v1/security/policy` that requires signatures or
tokens, `POST /v1/security/lockdown` (which revokes every key), and a roll
or revocation of the run's own key (whose id `GET /v1/api-keys` shows),
would turn every later request of the run into a 401."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

LENIENT = {
    "PAYGATE_RATE_LIMITS__ENABLED": "false",
    "PAYGATE_RATE_LIMITS__TOKEN_MINUTE__LIMIT": "1000000",
    "PAYGATE_RATE_LIMITS__TOKEN_HOUR__LIMIT": "1000000",
}
POLICY = "/v1/security/policy"
LOCKDOWN = "/v1/security/lockdown"
# Schemathesis reuses the ids that typed answers show (GET /v1/api-keys
# lists the run's own key), so rolling or revoking a key can end the key
# the run uses.
ROLL = "/v1/api-keys/{id}/roll"
REVOKE = "/v1/api-keys/{id}"
SELF_ENDING = [POLICY, LOCKDOWN, ROLL, REVOKE]
CONFIG = """\
headers = { x-api-secret = "${PAYGATE_SECRET}", x-merchant-id = "${PAYGATE_MERCHANT}" }

[auth.openapi.api_key]
api_key = "${PAYGATE_KEY}"
"""


def schemathesis(server, tmp_path, *selection):
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    report = tmp_path / "report"
    env = {
        **os.environ,
        "PAYGATE_KEY": server.key,
        "PAYGATE_SECRET": server.secret,
        "PAYGATE_MERCHANT": server.merchant_id,
    }
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file", str(config),
        "run", server.url("/v1/openapi.json"),
        "--url", server.base_url,
        "--tls-verify", server.ca_path,
        "--checks", "all",
        "--exclude-checks", "positive_data_acceptance",
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", os.environ.get("SCHEMA_EXAMPLES", "20"),
        "--seed", os.environ.get("SCHEMA_SEED", "20261122"),
        "--workers", "2",
        "--request-timeout", "20",
        "--report", "junit", "--report-dir", str(report),
        *selection,
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
    assert "Tested: 0" not in output, output[-4000:]
    return output


def test_every_operation_conforms_to_the_openapi_document(server_factory, tmp_path):
    server = server_factory(LENIENT)
    excluded = [arg for path in SELF_ENDING for arg in ("--exclude-path", path)]
    output = schemathesis(server, tmp_path, *excluded)
    # The credentials worked: operations were exercised past authentication.
    assert "returned only 401/403" not in output, output[-4000:]


@pytest.mark.parametrize("path", SELF_ENDING)
def test_operations_that_end_the_callers_credentials_conform_on_a_server_of_their_own(
    server_factory, tmp_path, path
):
    server = server_factory(LENIENT)
    schemathesis(server, tmp_path, "--include-path", path)
