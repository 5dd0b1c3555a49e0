"""The embedded mail backend: each message an ``.eml`` file in a directory.

Nothing to install, and every email the service sends can be opened in a mail
client or read as text. The file is named after the message's
``Message-ID``, which is the same on every try of the job that sends it: a
message sent again replaces its file instead of adding a second one. The
file is written under a temporary name and renamed, so a reader never sees
half a message, and the write happens in a thread, off the event loop.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from email.message import EmailMessage
from pathlib import Path

__all__ = ["ConsoleMailer"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


class ConsoleMailer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, message: EmailMessage) -> Path:
        message_id = str(message.get("Message-ID", "")).strip("<> ")
        name = _UNSAFE.sub("_", message_id)[:200] or uuid.uuid4().hex
        return self.directory / f"{name}.eml"

    async def send(self, message: EmailMessage) -> None:
        await asyncio.to_thread(self._write, self.path_of(message), message.as_bytes())

    def _write(self, path: Path, content: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(content)
        os.replace(temporary, path)
