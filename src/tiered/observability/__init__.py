"""Observability: structured, redacted logging (metrics and health live beside it)."""

from tiered.observability.logging import configure_logging, get_logger
from tiered.observability.redaction import REDACTED, is_secret_key, redact_secrets
from tiered.observability.request_scope import record_principal

__all__ = [
    "REDACTED",
    "configure_logging",
    "get_logger",
    "is_secret_key",
    "record_principal",
    "redact_secrets",
]
