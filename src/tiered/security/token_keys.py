"""Token keys: each pins one algorithm, and a key set never mixes families.

An HMAC secret under 32 bytes is always refused, a published or repetitive one
outside ``dev``/``test``; RSA keys under 2048 bits are refused. A key built from
a public key alone verifies but cannot sign. Key material never appears in a
``repr``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tiered.errors import ConfigurationError
from tiered.settings import MIN_SECRET_BYTES, Environment, secret_weakness

__all__ = ["MIN_RSA_BITS", "TokenAlgorithm", "TokenKey", "TokenKeys"]

TokenAlgorithm = Literal["HS256", "RS256", "EdDSA"]
MIN_RSA_BITS = 2048

_PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
_PublicKey = rsa.RSAPublicKey | ed25519.Ed25519PublicKey
_KeyInput = str | bytes


def _hmac_weakness(secret: str | bytes, environment: Environment) -> str | None:
    raw = secret.encode() if isinstance(secret, str) else secret
    if len(raw) < MIN_SECRET_BYTES:
        return f"shorter than {MIN_SECRET_BYTES} bytes"
    if environment.accepts_dev_secrets:
        return None
    if isinstance(secret, str):
        return secret_weakness(secret)
    return "too repetitive" if len(set(raw)) < 8 else None


def _pem(key: _KeyInput, load: Callable[[bytes], Any]) -> Any:
    try:
        return load(key.encode() if isinstance(key, str) else key)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigurationError("The token key is not an unencrypted PEM key.") from exc


def _load_private(key: _PrivateKey | _KeyInput) -> _PrivateKey:
    if isinstance(key, str | bytes):
        loaded = _pem(key, lambda data: serialization.load_pem_private_key(data, password=None))
        if not isinstance(loaded, _PrivateKey):
            raise ConfigurationError("The private key is neither RSA nor Ed25519.")
        return loaded
    return key


def _load_public(key: _PublicKey | _KeyInput) -> _PublicKey:
    if isinstance(key, str | bytes):
        loaded = _pem(key, serialization.load_pem_public_key)
        if not isinstance(loaded, _PublicKey):
            raise ConfigurationError("The public key is neither RSA nor Ed25519.")
        return loaded
    return key


@dataclass(frozen=True, slots=True, repr=False, eq=False)
class TokenKey:
    """One key, its ``kid`` and the single algorithm it may be used with.

    Build keys with :meth:`hs256`, :meth:`rs256` or :meth:`eddsa` (or the
    ``generate_*`` helpers); an asymmetric key built from its public half only
    verifies. The repr never shows key material.
    """

    kid: str
    algorithm: TokenAlgorithm
    _signing: Any
    _verifying: Any

    def __post_init__(self) -> None:
        if not self.kid:
            raise ConfigurationError("A token key needs a non-empty kid.")

    def __repr__(self) -> str:
        role = "signs and verifies" if self.can_sign else "verifies"
        return f"TokenKey(kid={self.kid!r}, algorithm={self.algorithm!r}, {role})"

    @classmethod
    def hs256(
        cls,
        secret: str | bytes,
        *,
        kid: str,
        environment: Environment = Environment.PRODUCTION,
    ) -> TokenKey:
        """An HMAC-SHA256 key; a short secret is always refused, a published or
        repetitive one unless ``environment`` accepts the development secrets."""
        weakness = _hmac_weakness(secret, environment)
        if weakness is not None:
            raise ConfigurationError(f"Refusing HS256 key {kid!r}: its secret is {weakness}.")
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        return cls(kid, "HS256", raw, raw)

    @classmethod
    def rs256(
        cls,
        private_key: rsa.RSAPrivateKey | _KeyInput | None = None,
        *,
        public_key: rsa.RSAPublicKey | _KeyInput | None = None,
        kid: str,
    ) -> TokenKey:
        """An RSA key (PEM or ``cryptography`` object) of at least 2048 bits."""
        signing, verifying = cls._pair(private_key, public_key, rsa.RSAPublicKey)
        if verifying.key_size < MIN_RSA_BITS:
            raise ConfigurationError(f"Refusing RS256 key {kid!r}: under {MIN_RSA_BITS} bits.")
        return cls(kid, "RS256", signing, verifying)

    @classmethod
    def eddsa(
        cls,
        private_key: ed25519.Ed25519PrivateKey | _KeyInput | None = None,
        *,
        public_key: ed25519.Ed25519PublicKey | _KeyInput | None = None,
        kid: str,
    ) -> TokenKey:
        """An Ed25519 key (PEM or ``cryptography`` object): small and fast to verify."""
        signing, verifying = cls._pair(private_key, public_key, ed25519.Ed25519PublicKey)
        return cls(kid, "EdDSA", signing, verifying)

    @classmethod
    def generate_rs256(cls, *, kid: str, bits: int = 3072) -> TokenKey:
        return cls.rs256(rsa.generate_private_key(public_exponent=65537, key_size=bits), kid=kid)

    @classmethod
    def generate_eddsa(cls, *, kid: str) -> TokenKey:
        return cls.eddsa(ed25519.Ed25519PrivateKey.generate(), kid=kid)

    @staticmethod
    def _pair(
        private_key: _PrivateKey | _KeyInput | None,
        public_key: _PublicKey | _KeyInput | None,
        expected: type[Any],
    ) -> tuple[Any, Any]:
        if private_key is None and public_key is None:
            raise ConfigurationError("An asymmetric token key needs a private or a public key.")
        signing = None if private_key is None else _load_private(private_key)
        verifying = signing.public_key() if signing is not None else None
        if public_key is not None:
            given = _load_public(public_key)
            if verifying is not None and given != verifying:
                raise ConfigurationError("The public key does not match the private key.")
            verifying = given
        if not isinstance(verifying, expected):
            raise ConfigurationError(
                f"Expected a {expected.__name__.removesuffix('PublicKey')} key."
            )
        return signing, verifying

    @property
    def can_sign(self) -> bool:
        return self._signing is not None

    @property
    def is_hmac(self) -> bool:
        return self.algorithm == "HS256"

    def public(self) -> TokenKey:
        """The verifying half, to hand to services that must not mint tokens."""
        if self.is_hmac:
            raise ConfigurationError("An HMAC key has no public half: whoever verifies can sign.")
        return TokenKey(self.kid, self.algorithm, None, self._verifying)

    def public_pem(self) -> bytes:
        if self.is_hmac:
            raise ConfigurationError("An HMAC key has no public half.")
        key: _PublicKey = self._verifying
        return key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class TokenKeys:
    """The current signing key and the retired keys that still verify.

    Rotation is a new set: :meth:`rotate` signs with a new key while the old one
    keeps verifying the tokens it signed, and :meth:`retire` drops it once those
    have expired. A set never mixes HMAC and asymmetric keys.
    """

    __slots__ = ("_by_kid", "current")

    def __init__(self, current: TokenKey, *, retired: Iterable[TokenKey] = ()) -> None:
        keys = [current, *retired]
        if len({key.is_hmac for key in keys}) > 1:
            raise ConfigurationError(
                "Refusing a key set that mixes HMAC and asymmetric keys (algorithm confusion)."
            )
        by_kid = {key.kid: key for key in keys}
        if len(by_kid) != len(keys):
            raise ConfigurationError("Every token key in a set needs its own kid.")
        self.current = current
        self._by_kid: Mapping[str, TokenKey] = MappingProxyType(by_kid)

    def __repr__(self) -> str:
        return f"TokenKeys(current={self.current.kid!r}, kids={list(self._by_kid)!r})"

    def get(self, kid: str) -> TokenKey | None:
        return self._by_kid.get(kid)

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted({key.algorithm for key in self._by_kid.values()}))

    def rotate(self, new_current: TokenKey) -> TokenKeys:
        retired = [key for key in self._by_kid.values() if key.kid != new_current.kid]
        return TokenKeys(new_current, retired=retired)

    def retire(self, kid: str) -> TokenKeys:
        if kid == self.current.kid:
            raise ConfigurationError("The current signing key cannot be removed; rotate first.")
        rest = [key for key in self._by_kid.values() if key.kid not in {kid, self.current.kid}]
        return TokenKeys(self.current, retired=rest)
