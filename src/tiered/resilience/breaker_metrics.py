"""Circuit breakers in the application's Prometheus registry (``/metrics``).

- ``circuit_breaker_state{breaker, state}``: 1 for the state this process last
  saw the breaker in, 0 for the others (with a shared backend, each process
  reports what its own calls saw);
- ``circuit_breaker_transitions_total{breaker, from_state, to_state}``: the
  transitions this process made (each transition is made, and counted, by
  exactly one process);
- ``circuit_breaker_rejected_calls_total{breaker}``: calls refused without
  calling the dependency;
- ``circuit_breaker_store_errors_total{breaker}``: steps the state store could
  not take (the call then went through unguarded).

Counted in plain integers on the event loop and turned into metrics when
scraped, as the rate limiter's are.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tiered.resilience.breaker_state import BreakerState, Transition

__all__ = ["BreakerMetrics"]


class BreakerMetrics(Collector):
    """One collector for every breaker of an application; pass it to each ``CircuitBreaker``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.states: dict[str, BreakerState] = {}
        self.transitions: dict[tuple[str, BreakerState, BreakerState], int] = {}
        self.rejected: dict[str, int] = {}
        self.store_errors: dict[str, int] = {}
        if registry is not None:
            registry.register(self)

    def saw(self, breaker: str, state: BreakerState) -> None:
        self.states[breaker] = state

    def moved(self, breaker: str, transition: Transition) -> None:
        key = (breaker, transition.source, transition.target)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        self.states[breaker] = transition.target

    def rejected_call(self, breaker: str) -> None:
        self.rejected[breaker] = self.rejected.get(breaker, 0) + 1

    def store_failed(self, breaker: str) -> None:
        self.store_errors[breaker] = self.store_errors.get(breaker, 0) + 1

    def collect(self) -> Iterator[Metric]:
        states = GaugeMetricFamily(
            "circuit_breaker_state",
            "1 for the state each circuit breaker was last seen in by this process.",
            labels=("breaker", "state"),
        )
        for breaker, current in self.states.items():
            for state in BreakerState:
                states.add_metric((breaker, state.value), 1.0 if state is current else 0.0)
        yield states
        transitions = CounterMetricFamily(
            "circuit_breaker_transitions",
            "Circuit-breaker state transitions made by this process.",
            labels=("breaker", "from_state", "to_state"),
        )
        for (breaker, source, target), count in self.transitions.items():
            transitions.add_metric((breaker, source.value, target.value), count)
        yield transitions
        rejected = CounterMetricFamily(
            "circuit_breaker_rejected_calls",
            "Calls a circuit breaker refused without calling the dependency.",
            labels=("breaker",),
        )
        for breaker, count in self.rejected.items():
            rejected.add_metric((breaker,), count)
        yield rejected
        errors = CounterMetricFamily(
            "circuit_breaker_store_errors",
            "Circuit-breaker steps whose state store failed (the call went through unguarded).",
            labels=("breaker",),
        )
        for breaker, count in self.store_errors.items():
            errors.add_metric((breaker,), count)
        yield errors
