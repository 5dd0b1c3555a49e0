"""Generated request ids: 32 hex digits, unique, and not repeated by a forked child."""

from __future__ import annotations

import os
import re

from tiered.http.request_id import new_request_id, request_id_for


def test_a_generated_id_is_32_hex_digits_and_never_repeats() -> None:
    ids = {new_request_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(re.fullmatch(r"[0-9a-f]{32}", request_id) for request_id in ids)


def test_a_request_without_an_id_gets_a_new_one() -> None:
    scope = {"headers": [(b"x-request-id", b"bad id with spaces")]}
    first, second = request_id_for(scope), request_id_for({"headers": []})
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_a_forked_child_does_not_repeat_its_parents_ids() -> None:
    reader, writer = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child process
        os.write(writer, "".join(new_request_id() for _ in range(3)).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(child, 0)
    with os.fdopen(reader) as pipe:
        theirs = pipe.read()
    ours = "".join(new_request_id() for _ in range(3))
    assert len(theirs) == len(ours) == 96
    assert theirs != ours
