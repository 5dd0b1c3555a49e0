"""FastAPI's native OpenTelemetry: off unless the settings turn it on, then it traces requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Tracer, TracerProvider
from opentelemetry.util.types import Attributes

from tiered.app import create_app
from tiered.settings import AppSettings
from tiered.testing import app_client


class _RecordingTracer(Tracer):
    def __init__(self, started: list[tuple[str, SpanKind]]) -> None:
        self.started = started

    def start_span(  # noqa: PLR0917 - opentelemetry's signature
        self,
        name: str,
        context: Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Span:
        self.started.append((name, kind))
        return NonRecordingSpan(trace.INVALID_SPAN_CONTEXT)

    def start_as_current_span(self, name: str, *args: Any, **kwargs: Any) -> Any:
        """FastAPI's operation spans: recorded by name, as internal spans."""
        return trace.use_span(self.start_span(name), end_on_exit=True)


class _RecordingProvider(TracerProvider):
    def __init__(self) -> None:
        self.started: list[tuple[str, SpanKind]] = []

    def get_tracer(
        self,
        instrumenting_module_name: str,
        instrumenting_library_version: str | None = None,
        schema_url: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> Tracer:
        return _RecordingTracer(self.started)


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> _RecordingProvider:
    """A configured global tracer provider, as an application's OpenTelemetry setup leaves it."""
    recording = _RecordingProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: recording)
    return recording


def _settings(**overrides: Any) -> AppSettings:
    return AppSettings(environment="test", database_url="sqlite+aiosqlite://", **overrides)


async def test_requests_are_not_traced_by_default(provider: _RecordingProvider) -> None:
    async with app_client(create_app(_settings())) as client:
        assert (await client.get("/health/live")).status_code == 200
    assert provider.started == []


async def test_turned_on_each_request_gets_a_server_span(provider: _RecordingProvider) -> None:
    async with app_client(create_app(_settings(opentelemetry=True))) as client:
        assert (await client.get("/health/live")).status_code == 200
    assert provider.started[0] == ("GET", SpanKind.SERVER)
