"""Completing a response's headers from a layer inside the request context, without a layer's cost.

A layer that adds headers to responses wraps ``send``: a closure and one more
call for every message of every response. The request-context layer already
wraps it, so it offers the response start to the layers inside it: each
request's scope holds a list under `HEADER_COMPLETERS`, and a callable added
there is given the response's headers when it starts and returns them
completed. The rate limiter adds its fields so. The list is there only when the
request-context layer runs outside; without it, a layer wraps ``send`` itself.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["HEADER_COMPLETERS", "Header", "HeaderCompleter"]

Header = tuple[bytes, bytes]
HeaderCompleter = Callable[[list[Header]], list[Header]]
HEADER_COMPLETERS = "tiered.header_completers"
"""Scope key of the request's list of `HeaderCompleter`, applied in the order they were added."""
