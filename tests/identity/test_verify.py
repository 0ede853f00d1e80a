"""The pure token checks (regogate.oidc.verify), with a fixed clock and keys made here."""

from __future__ import annotations

import hashlib
import hmac
import json
import warnings
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from regogate.errors import AuthenticationFailed, InvalidAuthorization
from regogate.identity import token_sha256
from regogate.oidc.config import OidcIssuerConfig
from regogate.oidc.verify import (
    MAX_TOKEN_LENGTH,
    SigningKey,
    check_algorithm,
    check_claims,
    claim,
    looks_like_jwt,
    parse_jwks,
    peek,
    select_key,
    show,
    verify_signature,
)
from tests.identity.issuer import Key, b64, new_key

NOW = 1_700_000_000.0
ISS = "https://idp.example.com/realms/main"
CFG = OidcIssuerConfig(issuer=ISS, audiences=("regogate",), leeway=30)
RS_HEAD = b64(b'{"alg":"RS256"}')
KEYS = {alg: new_key(alg, f"k-{alg}") for alg in ("RS256", "ES256", "EdDSA")}


def signing_keys(*keys: Key) -> tuple[SigningKey, ...]:
    return parse_jwks({"keys": [k.public_jwk() for k in keys]}, "test")


def sign(key: Key, claims: dict[str, Any], **header: Any) -> str:
    return jwt.encode(claims, key.private, algorithm=key.alg, headers={"kid": key.kid, **header})


def good_claims(**overrides: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": "regogate",
        "sub": "alice",
        "email": "alice@example.com",
        "groups": ["g1", "g2"],
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 300,
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


# -- shape and header ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "is_jwt"),
    [
        ("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", True),
        ("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.", True),  # alg none: recognized, then refused
        ("rg_Zm9vYmFyYmF6cXV4", False),  # a static token
        ("a.b.c", False),
        ("eyJh.eyJz", False),
        ("eyJh.eyJz.sig.more", False),
        ("eyJh .eyJz.sig", False),
        ("Bearer eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln", False),
        ("", False),
    ],
)
def test_looks_like_jwt(password: str, is_jwt: bool) -> None:
    assert looks_like_jwt(password) is is_jwt


def test_peek_reads_alg_kid_and_issuer_without_verifying() -> None:
    token = sign(KEYS["ES256"], good_claims())
    unverified = peek(token)
    assert (unverified.alg, unverified.kid, unverified.issuer) == ("ES256", "k-ES256", ISS)


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "not a well-formed one"),
        (f"{b64(b'{}')}.{b64(b'{}')}.", "its header has no alg"),
        (f"{RS_HEAD}.{b64(b'[1]')}.", "payload is not a JSON object"),
        (f"{RS_HEAD}.{b64(b'nope')}.", "payload is not JSON"),
        ("a" * (MAX_TOKEN_LENGTH + 1), "longer than"),
    ],
)
def test_peek_refuses_malformed(token: str, why: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        peek(token)
    assert type(caught.value) is AuthenticationFailed  # 28P01
    assert why in caught.value.message


@pytest.mark.parametrize(
    ("alg", "why"),
    [
        ("none", 'unsigned (alg "none")'),
        ("None", 'unsigned (alg "none")'),
        ("HS256", 'shared-secret algorithm "HS256"'),
        ("HS512", 'shared-secret algorithm "HS512"'),
        ("hs384", 'shared-secret algorithm "hs384"'),
    ],
)
def test_unsigned_and_symmetric_algorithms_are_always_refused(alg: str, why: str) -> None:
    with pytest.raises(AuthenticationFailed) as caught:
        check_algorithm(alg)
    assert why in caught.value.message


def test_algorithm_must_be_allowed_for_the_issuer() -> None:
    only_es = OidcIssuerConfig(issuer=ISS, audiences=("a",), algorithms=("ES256",))
    check_algorithm("ES256", only_es)
    with pytest.raises(AuthenticationFailed) as caught:
        check_algorithm("RS256", only_es)
    assert caught.value.message == (
        f'the token\'s algorithm "RS256" is not allowed for issuer "{ISS}" (allowed: ES256)'
    )


# -- keys ------------------------------------------------------------------------------------


def test_parse_jwks_keeps_only_asymmetric_signing_keys() -> None:
    p384 = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()).public_key(), as_dict=True)
    doc = {
        "keys": [
            *(k.public_jwk() for k in KEYS.values()),
            {"kty": "oct", "k": "c2VjcmV0", "kid": "sym", "alg": "HS256"},  # never trusted
            {**KEYS["RS256"].public_jwk(), "kid": "enc", "use": "enc"},
            {**KEYS["RS256"].public_jwk(), "kid": "ps", "alg": "PS256"},
            {**p384, "kid": "p384"},  # ES384: not on the allow-list
            {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
            "not a key",
        ]
    }
    keys = parse_jwks(doc, "https://idp/jwks")
    assert [(k.kid, k.algorithm) for k in keys] == [
        ("k-RS256", "RS256"),
        ("k-ES256", "ES256"),
        ("k-EdDSA", "EdDSA"),
    ]


def test_parse_jwks_without_alg_infers_it_from_the_key_type() -> None:
    bare = {k: v for k, v in KEYS["RS256"].public_jwk().items() if k not in ("alg", "use")}
    assert [k.algorithm for k in parse_jwks({"keys": [bare]}, "x")] == ["RS256"]


@pytest.mark.parametrize("doc", [[], {"keys": "x"}, {"jwks": []}, None])
def test_parse_jwks_refuses_a_document_without_a_key_list(doc: object) -> None:
    with pytest.raises(AuthenticationFailed, match="https://idp/jwks is not a JWK set"):
        parse_jwks(doc, "https://idp/jwks")


def test_select_key() -> None:
    keys = signing_keys(*KEYS.values())
    assert select_key(keys, "k-ES256", "ES256") is keys[1]
    assert select_key(keys, "k-ES256", "RS256") is None  # the kid exists, for another alg
    assert select_key(keys, "other", "ES256") is None
    assert select_key(keys, None, "EdDSA") is keys[2]  # no kid: the only EdDSA key
    two_rsa = signing_keys(KEYS["RS256"], new_key("RS256", "second"))
    assert select_key(two_rsa, None, "RS256") is None  # no kid and a choice: refuse


# -- signatures ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_signature_verifies(alg: str) -> None:
    (key,) = signing_keys(KEYS[alg])
    claims = verify_signature(sign(KEYS[alg], good_claims()), key, CFG)
    assert claims["sub"] == "alice"


def test_signature_by_another_key_is_refused() -> None:
    (key,) = signing_keys(KEYS["RS256"])
    forged = sign(new_key("RS256", "k-RS256"), good_claims(groups=["admin"]))
    with pytest.raises(AuthenticationFailed) as caught:
        verify_signature(forged, key, CFG)
    assert caught.value.message == f'bad signature: the token was not signed by issuer "{ISS}"'


def test_key_confusion_is_refused_even_past_the_algorithm_check() -> None:
    """The key is bound to its algorithm: an HS256 MAC keyed with the public key (PEM or
    JWK text) never verifies, even if check_algorithm were skipped."""
    (key,) = signing_keys(KEYS["RS256"])
    for secret in (KEYS["RS256"].public_pem(), str(KEYS["RS256"].public_jwk()).encode()):
        head = b64(b'{"alg":"HS256","kid":"k-RS256"}')
        body = b64(json.dumps(good_claims()).encode())
        mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
        with pytest.raises(AuthenticationFailed):
            verify_signature(f"{head}.{body}.{b64(mac)}", key, CFG)


def test_short_rsa_keys_are_unusable() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    weak = Key("weak", "RS256", private)
    jwk = {**RSAAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "weak"}
    (key,) = parse_jwks({"keys": [jwk]}, "x")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # PyJWT warns when signing with a short key
        token = sign(weak, good_claims())
    with pytest.raises(AuthenticationFailed, match="at least 2048 bits"):
        verify_signature(token, key, CFG)


# -- claims ----------------------------------------------------------------------------------


def test_claims_make_the_identity() -> None:
    identity = check_claims(good_claims(), CFG, "d" * 64, NOW)
    assert identity.sub == "alice"
    assert identity.groups == ("g1", "g2")
    assert identity.email == "alice@example.com"
    assert (identity.auth, identity.issuer, identity.expires_at) == ("oidc", ISS, NOW + 300)
    assert identity.token_sha256 == "d" * 64
    assert "d" * 64 not in repr(identity)


@pytest.mark.parametrize(
    ("overrides", "accepted"),
    [
        ({"exp": NOW - 29}, True),  # within the 30 s leeway
        ({"exp": NOW - 30}, False),
        ({"nbf": NOW + 30}, True),
        ({"nbf": NOW + 31}, False),
        ({"iat": NOW + 30}, True),
        ({"iat": NOW + 31}, False),
        ({"iat": None, "nbf": None}, True),  # optional
    ],
)
def test_time_claims_with_leeway(overrides: dict[str, Any], accepted: bool) -> None:
    claims = good_claims(**overrides)
    if accepted:
        check_claims(claims, CFG, "", NOW)
    else:
        with pytest.raises(InvalidAuthorization):
            check_claims(claims, CFG, "", NOW)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"exp": NOW - 3600}, "the token expired at 2023-11-14T21:13:20Z (60 min ago)"),
        ({"exp": NOW - 86400 * 3}, "(72 h ago)"),
        (
            {"nbf": NOW + 90},
            "the token is not valid yet: not before 2023-11-14T22:14:50Z (in 90 s)",
        ),
        ({"iat": NOW + 600}, "issued in the future, at 2023-11-14T22:23:20Z"),
        ({"exp": None}, "the token has no exp (expiry) claim"),
        ({"exp": "tomorrow"}, "the token's exp claim is not a number of seconds"),
        ({"nbf": True}, "the token's nbf claim is not a number of seconds"),
        ({"aud": None}, 'the token has no aud (audience) claim; regogate expects "regogate"'),
        ({"aud": "other"}, 'wrong audience: the token is for "other", regogate expects "regogate"'),
        ({"aud": ["x", "y"]}, 'wrong audience: the token is for "x", "y", regogate expects'),
        ({"aud": []}, "wrong audience: the token is for no audience"),
        ({"aud": 7}, "wrong audience: the token is for 7, regogate expects"),
        ({"sub": None}, "the token has no sub (subject) claim"),
        ({"sub": ""}, "the token has no sub (subject) claim"),
        ({"groups": None}, 'the token has no groups claim "groups"'),
        ({"groups": {"a": 1}}, 'the token\'s groups claim "groups" is not a list of strings'),
        ({"groups": ["a", 2]}, "is not a list of strings"),
    ],
)
def test_claim_failures_say_why(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidAuthorization) as caught:  # 28000: signed, but not acceptable
        check_claims(good_claims(**overrides), CFG, "", NOW)
    assert caught.value.sqlstate == "28000"
    assert message in caught.value.message


def test_issuer_claim_must_match_after_verification() -> None:
    with pytest.raises(AuthenticationFailed, match="the token's issuer is not"):
        check_claims(good_claims(iss=ISS + "/"), CFG, "", NOW)


def test_audience_list_and_several_accepted_audiences() -> None:
    cfg = OidcIssuerConfig(issuer=ISS, audiences=("api://regogate", "regogate"))
    check_claims(good_claims(aud=["account", "api://regogate"]), cfg, "", NOW)


def test_groups_claim_forms() -> None:
    single = check_claims(good_claims(groups="solo"), CFG, "", NOW)
    assert single.groups == ("solo",)
    assert check_claims(good_claims(groups=[]), CFG, "", NOW).groups == ()
    keycloak = OidcIssuerConfig(
        issuer=ISS, audiences=("regogate",), groups_claim="realm_access.roles"
    )
    claims = good_claims(groups=None, realm_access={"roles": ["reader"]})
    assert check_claims(claims, keycloak, "", NOW).groups == ("reader",)
    auth0 = OidcIssuerConfig(
        issuer=ISS, audiences=("regogate",), groups_claim="https://regogate.example/groups"
    )
    claims = good_claims(groups=None, **{"https://regogate.example/groups": ["ops"]})
    assert check_claims(claims, auth0, "", NOW).groups == ("ops",)


def test_entra_groups_overage_gets_its_own_hint() -> None:
    claims = good_claims(groups=None, _claim_names={"groups": "src1"})
    with pytest.raises(InvalidAuthorization) as caught:
        check_claims(claims, CFG, "", NOW)
    assert caught.value.hint is not None and "too many groups" in caught.value.hint


def test_email_claim_is_optional_and_configurable() -> None:
    assert check_claims(good_claims(email=None), CFG, "", NOW).email is None
    assert check_claims(good_claims(email=["x"]), CFG, "", NOW).email is None
    upn = OidcIssuerConfig(issuer=ISS, audiences=("regogate",), email_claim="upn")
    assert check_claims(good_claims(upn="a@corp.example"), upn, "", NOW).email == "a@corp.example"


def test_claim_path() -> None:
    claims = {"a": {"b": {"c": 1}}, "x.y": 2}
    assert claim(claims, "a.b.c") == 1
    assert claim(claims, "x.y") == 2
    assert claim(claims, "a.z") is None
    assert claim(claims, "a.b.c.d") is None


def test_show_is_quoted_printable_and_short() -> None:
    assert show("abc") == '"abc"'
    assert show("a\x1b[31mb\n") == '"a?[31mb?"'
    assert show("x" * 100, limit=10) == '"xxxxxxxxxx…"'
    assert show(["a"]) == '["a"]'
    assert show(7) == "7"


def test_token_hash_is_sha256_of_the_token() -> None:
    token = sign(KEYS["EdDSA"], good_claims())
    assert token_sha256(token) == hashlib.sha256(token.encode()).hexdigest()
