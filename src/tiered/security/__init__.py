"""Security building blocks."""

from tiered.security.passwords import (
    MAX_PASSWORD_BYTES,
    OWASP_MEMORY_COST,
    OWASP_PARALLELISM,
    OWASP_TIME_COST,
    Argon2PasswordHasher,
    HashingPool,
    PasswordHasher,
    PasswordHasherBusyError,
    VerifyResult,
    verify_or_dummy,
)
from tiered.security.token_keys import MIN_RSA_BITS, TokenAlgorithm, TokenKey, TokenKeys
from tiered.security.tokens import (
    ACCESS_TOKEN_TTL,
    TOKEN_LEEWAY,
    Claims,
    InvalidTokenError,
    TokenIssuer,
    TokenVerifier,
)

__all__ = [
    "ACCESS_TOKEN_TTL",
    "MAX_PASSWORD_BYTES",
    "MIN_RSA_BITS",
    "OWASP_MEMORY_COST",
    "OWASP_PARALLELISM",
    "OWASP_TIME_COST",
    "TOKEN_LEEWAY",
    "Argon2PasswordHasher",
    "Claims",
    "HashingPool",
    "InvalidTokenError",
    "PasswordHasher",
    "PasswordHasherBusyError",
    "TokenAlgorithm",
    "TokenIssuer",
    "TokenKey",
    "TokenKeys",
    "TokenVerifier",
    "VerifyResult",
    "verify_or_dummy",
]
