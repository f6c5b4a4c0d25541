"""Fault injection for the reference platform: latency, 5xx, 429, hangs, drops after commit.

Decisions come from one `random.Random(seed)`, so a run with the same seed and the same request
order injects the same faults. Faults apply to `POST /api/graphql` only, never to the
`/_emulator/` test API.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

_RATES = ("fail_rate", "rate_limit_rate", "hang_rate", "drop_rate")


@dataclass
class FaultConfig:
    """What to inject. Rates are probabilities per request in [0, 1].

    - latency_ms / jitter_ms: every request waits latency_ms + uniform(0, jitter_ms).
    - fail_rate: answer 503 (or `fail_status`) before executing anything.
    - rate_limit_rate: answer 429 with `Retry-After: retry_after_s` before executing.
    - hang_rate: sleep `hang_s` (longer than client timeouts), then answer 504 unexecuted.
    - drop_rate: for mutations only, execute and commit, then drop the response: a 502, or a
      connection reset when `drop_style` is "reset" ("mixed" alternates at random).
    """

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    fail_rate: float = 0.0
    fail_status: int = 503
    rate_limit_rate: float = 0.0
    retry_after_s: float = 1.0
    hang_rate: float = 0.0
    hang_s: float = 30.0
    drop_rate: float = 0.0
    drop_style: str = "502"
    seed: int | None = None

    def validate(self) -> None:
        """Raise ValueError on out-of-range values."""
        for name in _RATES:
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, got {value}")
        for name in ("latency_ms", "jitter_ms", "retry_after_s", "hang_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.drop_style not in ("502", "reset", "mixed"):
            raise ValueError(f"drop_style must be 502, reset or mixed, got {self.drop_style!r}")
        if not 500 <= self.fail_status <= 599:
            raise ValueError(f"fail_status must be a 5xx status, got {self.fail_status}")

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: FaultConfig | None = None) -> FaultConfig:
        """A config from JSON, starting from `base` (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        merged = asdict(base or cls())
        merged.update(data)
        config = cls(**merged)
        for name in (*_RATES, "latency_ms", "jitter_ms", "retry_after_s", "hang_s"):
            setattr(config, name, float(getattr(config, name)))
        config.fail_status = int(config.fail_status)
        config.validate()
        return config

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)


@dataclass
class Decision:
    """What to do with one request."""

    delay_s: float = 0.0
    action: str = "ok"        # ok | fail | rate_limit | hang | drop
    drop_reset: bool = False


@dataclass
class FaultInjector:
    """Draws a `Decision` per request and counts what happened."""

    config: FaultConfig = field(default_factory=FaultConfig)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    counts: dict[str, int] = field(default_factory=dict)
    operations: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.configure(self.config)

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings; re-seeds the generator so runs are reproducible."""
        config.validate()
        with self._lock:
            self.config = config
            self._rng = random.Random(config.seed)

    def decide(self, is_mutation: bool) -> Decision:
        """The fault for the next request. One draw per rate, in a fixed order, so a given
        seed yields the same sequence whatever the rates."""
        c = self.config
        with self._lock:
            jitter = self._rng.uniform(0.0, c.jitter_ms) if c.jitter_ms else 0.0
            draws = [self._rng.random() for _ in range(5)]
        decision = Decision(delay_s=(c.latency_ms + jitter) / 1000.0)
        if draws[0] < c.rate_limit_rate:
            decision.action = "rate_limit"
        elif draws[1] < c.fail_rate:
            decision.action = "fail"
        elif draws[2] < c.hang_rate:
            decision.action = "hang"
        elif is_mutation and draws[3] < c.drop_rate:
            decision.action = "drop"
            decision.drop_reset = c.drop_style == "reset" or (
                c.drop_style == "mixed" and draws[4] < 0.5
            )
        return decision

    def count(self, outcome: str, operation: str | None = None) -> None:
        """Record one request's outcome (and its GraphQL operation name)."""
        with self._lock:
            self.counts[outcome] = self.counts.get(outcome, 0) + 1
            self.counts["total"] = self.counts.get("total", 0) + 1
            if operation:
                self.operations[operation] = self.operations.get(operation, 0) + 1

    def stats(self) -> dict[str, Any]:
        """Request counts by outcome and by operation name."""
        with self._lock:
            return {"requests": dict(self.counts), "operations": dict(self.operations),
                    "faults": self.config.to_dict()}

    def reset_stats(self) -> None:
        """Zero the counters."""
        with self._lock:
            self.counts.clear()
            self.operations.clear()
