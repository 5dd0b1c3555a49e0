"""Errors of calls to other services: unreachable, misbehaving, or refused before leaving.

A route that calls another service must answer its own client with a problem
that says whose fault it is: the other service is down (503, try later), it
answered with something this service will not accept (502), or the address
the request would go to is one this service refuses to reach (400).
"""

from __future__ import annotations

from tiered.errors.hierarchy import AppError, ExternalServiceError, ValidationError

__all__ = ["UnsafeDestinationError", "UpstreamResponseError", "UpstreamUnavailableError"]


class UpstreamUnavailableError(ExternalServiceError):
    """Another service timed out, refused the connection or answered 5xx/429, retries spent."""

    code = "UPSTREAM_UNAVAILABLE"
    title = "Upstream Unavailable"
    slug = "upstream-unavailable"
    description = (
        "A service this one depends on did not answer usefully (timeout, refused connection, "
        "5xx or 429) after the retries allowed; the request may succeed after `Retry-After`."
    )


class UpstreamResponseError(AppError):
    """Another service answered with something this service will not take (too big, loops)."""

    status = 502
    code = "UPSTREAM_RESPONSE_REJECTED"
    title = "Bad Gateway"
    slug = "upstream-response-rejected"
    description = (
        "A service this one depends on answered with a response this service refuses: "
        "a body over the size limit or too many redirects."
    )


class UnsafeDestinationError(ValidationError):
    """An outbound request would reach an address or host this service must not call.

    Loopback, private, link-local, multicast and reserved addresses are refused
    (unless the settings allow a network), as is a redirect to another host: a
    URL that came from a client must not make this service reach inside its own
    network (server-side request forgery).
    """

    code = "UNSAFE_DESTINATION"
    title = "Unsafe Destination"
    slug = "unsafe-destination"
    description = (
        "The request would make this service call an address it refuses to reach "
        "(loopback, private, link-local, multicast or reserved), or follow a redirect "
        "to another host."
    )
