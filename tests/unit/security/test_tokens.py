"""Access tokens: the OWASP API2 (broken authentication) attacks each fail with a 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tiered.clock import FrozenClock
from tiered.errors import AuthenticationError, ConfigurationError, problem_for_error
from tiered.security import (
    ACCESS_TOKEN_TTL,
    TOKEN_LEEWAY,
    Claims,
    InvalidTokenError,
    TokenIssuer,
    TokenKey,
    TokenKeys,
    TokenVerifier,
)
from tiered.settings import DEV_JWT_SECRET, Environment

SECRET = "k3Y-for-the-tests_0123456789abcdefghij"
OTHER_SECRET = "an0ther-Key-for-forgeries_9876543210zyx"
ISSUER, AUDIENCE = "https://auth.example", "markets-api"
REQUIRED = ["exp", "iat", "sub", "iss", "aud", "jti"]


@pytest.fixture(scope="module")
def rsa_private() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def keys() -> TokenKeys:
    return TokenKeys(TokenKey.hs256(SECRET, kid="hs-1"))


def make_issuer(keys: TokenKeys, clock: FrozenClock, **kwargs: Any) -> TokenIssuer:
    return TokenIssuer(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock, **kwargs)


def make_verifier(keys: TokenKeys, clock: FrozenClock, **kwargs: Any) -> TokenVerifier:
    options: dict[str, Any] = {"issuer": ISSUER, "audience": AUDIENCE, **kwargs}
    return TokenVerifier(keys, clock=clock, **options)


def valid_payload(clock: FrozenClock) -> dict[str, Any]:
    now = int(clock.now().timestamp())
    return {
        "sub": "user-1",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 600,
        "jti": "jti-1",
    }


def hs_token(payload: dict[str, Any], *, secret: str = SECRET, **header: Any) -> str:
    headers = {"kid": "hs-1", "typ": "at+jwt", **header}
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def raw_hs_token(header: dict[str, Any], payload: Any, secret: str | bytes = SECRET) -> str:
    """A token built by hand, as an attacker would, free of PyJWT's own checks."""
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    raw = secret.encode() if isinstance(secret, str) else secret
    signature = hmac.new(raw, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def refused(verifier: TokenVerifier, token: str) -> InvalidTokenError:
    with pytest.raises(InvalidTokenError) as caught:
        verifier.verify(token)
    return caught.value


# --- the happy path ---------------------------------------------------------------------


def test_issued_token_round_trips(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock).issue("user-1", claims={"role": "admin"})
    claims = make_verifier(keys, clock).verify(token)
    assert isinstance(claims, Claims)
    assert (claims.sub, claims.iss, claims.aud) == ("user-1", ISSUER, AUDIENCE)
    assert claims.iat == clock.now()
    assert claims.exp - claims.iat == ACCESS_TOKEN_TTL == timedelta(minutes=15)
    assert dict(claims.extra) == {"role": "admin"}
    assert claims.nbf is None
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "kid": "hs-1", "typ": "at+jwt"}


def test_each_token_has_a_random_jti(keys: TokenKeys, clock: FrozenClock) -> None:
    issuer, verifier = make_issuer(keys, clock), make_verifier(keys, clock)
    jtis = {verifier.verify(issuer.issue("user-1")).jti for _ in range(5)}
    assert len(jtis) == 5
    assert all(len(jti) >= 16 for jti in jtis)


def test_claims_are_frozen(keys: TokenKeys, clock: FrozenClock) -> None:
    claims = make_verifier(keys, clock).verify(make_issuer(keys, clock).issue("u", claims={"a": 1}))
    with pytest.raises(AttributeError):
        claims.sub = "someone-else"  # type: ignore[misc]
    with pytest.raises(TypeError):
        claims.extra["a"] = 2  # type: ignore[index]


@pytest.mark.parametrize("name", ["sub", "exp", "iat", "nbf", "iss", "aud", "jti"])
def test_registered_claims_cannot_be_overridden(
    keys: TokenKeys, clock: FrozenClock, name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        make_issuer(keys, clock).issue("user-1", claims={name: "x"})


@pytest.mark.parametrize("ttl", [timedelta(0), timedelta(seconds=-1)])
def test_a_lifetime_must_be_positive(keys: TokenKeys, clock: FrozenClock, ttl: timedelta) -> None:
    with pytest.raises(ValueError, match="positive"):
        make_issuer(keys, clock).issue("user-1", ttl=ttl)
    with pytest.raises(ValueError, match="positive"):
        make_issuer(keys, clock, ttl=ttl)


# --- time, from the injected clock ------------------------------------------------------


def test_frozen_clock_past_exp_means_expired(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock, ttl=timedelta(minutes=5)).issue("user-1")
    verifier = make_verifier(keys, clock)
    clock.advance(timedelta(minutes=5) + TOKEN_LEEWAY - timedelta(seconds=1))
    assert verifier.verify(token).sub == "user-1", "still inside the leeway"
    clock.advance(timedelta(seconds=1))
    error = refused(verifier, token)
    assert error.code == "TOKEN_EXPIRED"
    assert error.message == "The access token has expired."


@pytest.mark.parametrize("year", [2001, 2100])
def test_the_wall_clock_plays_no_part(keys: TokenKeys, year: int) -> None:
    """Long expired, or issued in the future, by the wall clock: only the injected one counts."""
    clock = FrozenClock(datetime(year, 1, 1, tzinfo=UTC))
    token = make_issuer(keys, clock).issue("user-1")
    assert make_verifier(keys, clock).verify(token).iat == clock.now()


def test_leeway_zero_is_exact(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock, ttl=timedelta(seconds=60)).issue("user-1")
    verifier = make_verifier(keys, clock, leeway=timedelta(0))
    clock.advance(59)
    verifier.verify(token)
    clock.advance(1)
    assert refused(verifier, token).code == "TOKEN_EXPIRED"


def test_future_iat_is_not_yet_valid(keys: TokenKeys, clock: FrozenClock) -> None:
    ahead = FrozenClock(clock.now() + TOKEN_LEEWAY + timedelta(seconds=1))
    token = make_issuer(keys, ahead).issue("user-1")
    verifier = make_verifier(keys, clock)
    assert refused(verifier, token).code == "TOKEN_NOT_YET_VALID"
    clock.advance(1)
    assert verifier.verify(token).sub == "user-1"


def test_future_nbf_is_not_yet_valid(keys: TokenKeys, clock: FrozenClock) -> None:
    starts = clock.now() + timedelta(minutes=5)
    token = make_issuer(keys, clock).issue("user-1", not_before=starts)
    verifier = make_verifier(keys, clock)
    error = refused(verifier, token)
    assert error.code == "TOKEN_NOT_YET_VALID"
    clock.advance(timedelta(minutes=5))
    assert verifier.verify(token).nbf == starts


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "9999999999", True, 10**20])
def test_exp_must_be_a_usable_number(clock: FrozenClock, keys: TokenKeys, value: Any) -> None:
    token = hs_token({**valid_payload(clock), "exp": value})
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_CLAIMS_INVALID"


# --- claims -----------------------------------------------------------------------------


@pytest.mark.parametrize("claim", REQUIRED)
def test_each_required_claim_is_required(keys: TokenKeys, clock: FrozenClock, claim: str) -> None:
    payload = valid_payload(clock)
    make_verifier(keys, clock).verify(hs_token(payload))
    del payload[claim]
    assert refused(make_verifier(keys, clock), hs_token(payload)).code == "TOKEN_CLAIMS_INVALID"


@pytest.mark.parametrize("claim", ["sub", "jti"])
def test_empty_subject_or_id_is_refused(keys: TokenKeys, clock: FrozenClock, claim: str) -> None:
    token = hs_token({**valid_payload(clock), claim: ""})
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_CLAIMS_INVALID"


def test_wrong_audience_is_refused(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock).issue("user-1")
    other = TokenVerifier(keys, issuer=ISSUER, audience="billing-api", clock=clock)
    assert refused(other, token).code == "TOKEN_CLAIMS_INVALID"


def test_wrong_issuer_is_refused(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock).issue("user-1")
    other = TokenVerifier(keys, issuer="https://evil.example", audience=AUDIENCE, clock=clock)
    assert refused(other, token).code == "TOKEN_CLAIMS_INVALID"


def test_audience_list_containing_ours_is_accepted(keys: TokenKeys, clock: FrozenClock) -> None:
    token = hs_token({**valid_payload(clock), "aud": ["billing-api", AUDIENCE]})
    assert make_verifier(keys, clock).verify(token).aud == ("billing-api", AUDIENCE)


# --- signatures, algorithms and keys ----------------------------------------------------


def test_alg_none_is_refused(keys: TokenKeys, clock: FrozenClock) -> None:
    header = b64(json.dumps({"alg": "none", "kid": "hs-1", "typ": "at+jwt"}).encode())
    payload = b64(json.dumps(valid_payload(clock)).encode())
    for token in (f"{header}.{payload}.", f"{header}.{payload}"):
        assert refused(make_verifier(keys, clock), token).code in {
            "TOKEN_INVALID",
            "TOKEN_MALFORMED",
        }
    assert refused(make_verifier(keys, clock), f"{header}.{payload}.").code == "TOKEN_INVALID"


def test_rsa_public_key_as_hmac_secret_is_refused(
    rsa_private: rsa.RSAPrivateKey, clock: FrozenClock
) -> None:
    """The classic confusion: the attacker signs HS256 with the (public) RSA key."""
    key = TokenKey.rs256(rsa_private, kid="rs-1")
    keys = TokenKeys(key)
    verifier = make_verifier(keys, clock)
    verifier.verify(make_issuer(keys, clock).issue("user-1"))
    header = {"alg": "HS256", "kid": "rs-1", "typ": "at+jwt"}
    token = raw_hs_token(header, valid_payload(clock), secret=key.public_pem())
    error = refused(verifier, token)
    assert error.code == "TOKEN_INVALID"


def test_forged_signature_is_refused(keys: TokenKeys, clock: FrozenClock) -> None:
    forged = hs_token(valid_payload(clock), secret=OTHER_SECRET)
    assert refused(make_verifier(keys, clock), forged).code == "TOKEN_INVALID"


def test_tampered_payload_is_refused(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock).issue("user-1", claims={"role": "member"})
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["role"] = "admin"
    tampered = f"{header}.{b64(json.dumps(claims).encode())}.{signature}"
    assert refused(make_verifier(keys, clock), tampered).code == "TOKEN_INVALID"


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ({"kid": "hs-9"}, "TOKEN_INVALID"),
        ({}, "TOKEN_INVALID"),
        ({"kid": None}, "TOKEN_MALFORMED"),
        ({"kid": 1}, "TOKEN_MALFORMED"),
    ],
)
def test_unknown_or_missing_kid_is_refused(
    keys: TokenKeys, clock: FrozenClock, header: dict[str, Any], code: str
) -> None:
    token = raw_hs_token({"alg": "HS256", "typ": "at+jwt", **header}, valid_payload(clock))
    assert refused(make_verifier(keys, clock), token).code == code


@pytest.mark.parametrize("typ", [None, "JWT", "id+jwt"])
def test_only_access_tokens_pass(keys: TokenKeys, clock: FrozenClock, typ: str | None) -> None:
    token = hs_token(valid_payload(clock), typ=typ)
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_INVALID"


def test_typ_may_be_the_full_media_type(keys: TokenKeys, clock: FrozenClock) -> None:
    token = hs_token(valid_payload(clock), typ="application/AT+JWT")
    assert make_verifier(keys, clock).verify(token).sub == "user-1"


@pytest.mark.parametrize(
    "token", ["", "abc", "a.b.c", "a.b", "....", "eyJhbGciOiJIUzI1NiJ9.e30.x", "x" * 9000]
)
def test_malformed_token_is_refused(keys: TokenKeys, clock: FrozenClock, token: str) -> None:
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_MALFORMED"


def test_payload_that_is_not_an_object_is_malformed(keys: TokenKeys, clock: FrozenClock) -> None:
    token = raw_hs_token({"alg": "HS256", "kid": "hs-1", "typ": "at+jwt"}, [1, 2])
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_MALFORMED"


# --- rotation ---------------------------------------------------------------------------


def test_rotation_old_key_verifies_until_removed(clock: FrozenClock) -> None:
    old = TokenKeys(TokenKey.hs256(SECRET, kid="2026-01"))
    old_token = make_issuer(old, clock).issue("user-1")

    rotated = old.rotate(TokenKey.hs256(OTHER_SECRET, kid="2026-02"))
    new_token = make_issuer(rotated, clock).issue("user-1")
    assert jwt.get_unverified_header(new_token)["kid"] == "2026-02"
    assert rotated.kids == ("2026-02", "2026-01")
    verifier = make_verifier(rotated, clock)
    assert verifier.verify(old_token).sub == verifier.verify(new_token).sub == "user-1"

    removed = rotated.retire("2026-01")
    verifier = make_verifier(removed, clock)
    assert refused(verifier, old_token).code == "TOKEN_INVALID"
    assert verifier.verify(new_token).sub == "user-1"
    with pytest.raises(ConfigurationError, match="current"):
        removed.retire("2026-02")


def test_kids_are_unique(clock: FrozenClock) -> None:
    with pytest.raises(ConfigurationError, match="kid"):
        TokenKeys(TokenKey.hs256(SECRET, kid="a"), retired=[TokenKey.hs256(OTHER_SECRET, kid="a")])


def test_rsa_rotation_to_a_new_key(rsa_private: rsa.RSAPrivateKey, clock: FrozenClock) -> None:
    old = TokenKeys(TokenKey.rs256(rsa_private, kid="rs-1"))
    old_token = make_issuer(old, clock).issue("user-1")
    rotated = old.rotate(TokenKey.generate_eddsa(kid="ed-1"))
    verifier = make_verifier(rotated, clock)
    assert verifier.verify(old_token).sub == "user-1"
    assert rotated.algorithms == ("EdDSA", "RS256")


# --- key hygiene ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "why"),
    [
        ("short-secret", "shorter than 32 bytes"),
        (DEV_JWT_SECRET, "published default"),
        ("ab" * 20, "repetitive"),
        (b"\x00" * 40, "repetitive"),
        (b"\x01" * 16, "shorter than 32 bytes"),
    ],
)
def test_weak_secret_is_refused(secret: str | bytes, why: str) -> None:
    with pytest.raises(ConfigurationError, match=why) as caught:
        TokenKey.hs256(secret, kid="hs-1")
    assert str(secret) not in str(caught.value)


def test_dev_secret_is_accepted_only_outside_production() -> None:
    assert TokenKey.hs256(DEV_JWT_SECRET, kid="dev", environment=Environment.DEV).can_sign
    with pytest.raises(ConfigurationError, match="shorter"):
        TokenKey.hs256("short", kid="dev", environment=Environment.DEV)


def test_mixed_family_verifier_is_refused(rsa_private: rsa.RSAPrivateKey) -> None:
    hs, rs = TokenKey.hs256(SECRET, kid="hs-1"), TokenKey.rs256(rsa_private, kid="rs-1")
    with pytest.raises(ConfigurationError, match="algorithm confusion"):
        TokenVerifier(
            TokenKeys(hs, retired=[rs]), issuer=ISSUER, audience=AUDIENCE, clock=FrozenClock()
        )
    with pytest.raises(ConfigurationError, match="algorithm confusion"):
        TokenKeys(rs).rotate(hs)


def test_small_rsa_key_is_refused() -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigurationError, match="2048"):
        TokenKey.rs256(small, kid="rs-small")


def test_key_type_must_match_algorithm(rsa_private: rsa.RSAPrivateKey) -> None:
    with pytest.raises(ConfigurationError, match="Ed25519"):
        TokenKey.eddsa(public_key=rsa_private.public_key(), kid="x")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="PEM"):
        TokenKey.rs256("not a pem", kid="x")
    with pytest.raises(ConfigurationError, match="does not match"):
        TokenKey.rs256(
            rsa_private, public_key=TokenKey.generate_rs256(kid="y").public_pem(), kid="x"
        )


def test_repr_never_shows_key_material() -> None:
    key = TokenKey.hs256(SECRET, kid="hs-1")
    assert SECRET not in repr(key)
    assert SECRET not in repr(TokenKeys(key))
    assert "hs-1" in repr(key)


# --- asymmetric keys --------------------------------------------------------------------


def test_eddsa_round_trip_and_public_only_verifier(clock: FrozenClock) -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    key = TokenKey.eddsa(private, kid="ed-1")
    token = make_issuer(TokenKeys(key), clock).issue("user-1", claims={"scope": "read"})
    assert jwt.get_unverified_header(token)["alg"] == "EdDSA"

    public_only = TokenKey.eddsa(public_key=key.public_pem().decode(), kid="ed-1")
    claims = make_verifier(TokenKeys(public_only), clock).verify(token)
    assert (claims.sub, claims.extra["scope"]) == ("user-1", "read")
    with pytest.raises(ConfigurationError, match="only verify"):
        make_issuer(TokenKeys(public_only), clock)


def test_eddsa_token_from_another_key_is_refused(clock: FrozenClock) -> None:
    keys = TokenKeys(TokenKey.generate_eddsa(kid="ed-1"))
    impostor = TokenKeys(TokenKey.generate_eddsa(kid="ed-1"))
    token = make_issuer(impostor, clock).issue("user-1")
    assert refused(make_verifier(keys, clock), token).code == "TOKEN_INVALID"


def test_rs256_round_trip_with_pem(rsa_private: rsa.RSAPrivateKey, clock: FrozenClock) -> None:
    key = TokenKey.rs256(rsa_private, kid="rs-1")
    token = make_issuer(TokenKeys(key), clock).issue("user-1")
    verifier = make_verifier(TokenKeys(key.public()), clock)
    assert verifier.verify(token).sub == "user-1"
    assert not key.public().can_sign
    with pytest.raises(ConfigurationError, match="no public half"):
        TokenKey.hs256(SECRET, kid="hs-1").public()


# --- the 401 on the wire ----------------------------------------------------------------


def test_refusal_is_a_401_with_a_bearer_challenge(keys: TokenKeys, clock: FrozenClock) -> None:
    token = make_issuer(keys, clock).issue("user-1")
    clock.advance(ACCESS_TOKEN_TTL + TOKEN_LEEWAY)
    error = refused(make_verifier(keys, clock), token)
    assert isinstance(error, AuthenticationError)
    response = problem_for_error(error, instance="/api/v1/me", request_id="r-1")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    body = json.loads(bytes(response.body))
    assert body["code"] == "TOKEN_EXPIRED"
    assert body["type"].endswith("/problems/invalid-token")
    assert token not in bytes(response.body).decode()
