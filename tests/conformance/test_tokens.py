"""docs/api.md section 4.2 through PyJWT: an issued access token verifies against the JWK
set the server publishes, with the standard library's own EdDSA code."""

import jwt
import pytest


def exchange(server):
    s = server.session()
    s.headers["x-merchant-id"] = server.merchant_id
    response = s.post(server.url("/v1/auth/token"))
    assert response.status_code == 200, response.text
    return response.json()


def test_pyjwt_verifies_an_issued_token_against_the_served_jwks(server):
    issued = exchange(server)
    token = issued["access_token"]
    assert issued["token_type"] == "Bearer" and issued["expires_in"] == 60

    jwks = server.session().get(server.url("/.well-known/jwks.json")).json()
    key_set = jwt.PyJWKSet.from_dict(jwks)
    kid = jwt.get_unverified_header(token)["kid"]
    signing_key = next(k for k in key_set.keys if k.key_id == kid)
    assert signing_key.algorithm_name == "EdDSA"

    claims = jwt.decode(
        token,
        signing_key.key,
        algorithms=["EdDSA"],
        options={"require": ["iss", "sub", "iat", "exp", "jti"]},
    )
    assert claims["sub"] == server.merchant_id
    assert claims["env"] == "test"
    assert claims["sid"] == issued["session_id"]
    assert claims["exp"] - claims["iat"] == 60

    # The same library refuses the token once a byte of its payload changes.
    header, payload, signature = token.split(".")
    flipped = payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1]
    with pytest.raises(jwt.InvalidTokenError):
        jwt.decode(f"{header}.{flipped}.{signature}", signing_key.key, algorithms=["EdDSA"])


def test_the_token_authenticates_a_call_with_its_session(server):
    issued = exchange(server)
    response = server.session().get(
        server.url("/v1/balance"),
        headers={
            "x-api-key": None,
            "authorization": f"Bearer {issued['access_token']}",
            "x-session-id": issued["session_id"],
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["object"] == "balance"
