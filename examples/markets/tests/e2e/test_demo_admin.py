"""``markets serve`` on the embedded default: the demo admin can sign in, with a password
generated on first run, kept under ``var/`` for its owner only, and printed with how to log in."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serve_once(workdir: Path) -> tuple[str, str]:
    """Start ``markets serve``, sign in as the demo admin, stop; the password and the output."""
    port = _free_port()
    env = {
        **os.environ,
        "MARKETS_DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'var' / 'markets.db'}",
        "MARKETS_ENVIRONMENT": "dev",
        "MARKETS_LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "markets", "serve", "--port", str(port)],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode() if process.stdout else ""
            try:
                if httpx.get(f"{base}/health/live", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        password = (workdir / "var" / "demo-admin-password").read_text().strip()
        form = {"username": "admin@example.com", "password": password}
        tokens = httpx.post(f"{base}/api/v1/auth/token", data=form, timeout=10)
        assert tokens.status_code == 200, tokens.text
        bearer = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        users = httpx.get(f"{base}/api/v1/admin/users", headers=bearer, timeout=10)
        assert users.status_code == 200, users.text
        demo_user = {"username": "user2@example.com", "password": password}
        assert httpx.post(f"{base}/api/v1/auth/token", data=demo_user).status_code == 401
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    return password, output.decode()


def test_the_demo_admin_signs_in_with_a_generated_password(tmp_path: Path) -> None:
    password, output = _serve_once(tmp_path)
    kept = tmp_path / "var" / "demo-admin-password"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert len(password) >= 20
    assert "admin@example.com" in output
    assert password in output
    assert "/api/v1/auth/token" in output

    again, output = _serve_once(tmp_path)
    assert again == password, "the password of the first run is kept"
    other = tmp_path / "other"
    other.mkdir()
    fresh, _ = _serve_once(other)
    assert fresh != password, "each installation gets its own password"
