"""Retry with exponential back-off: the one mechanism for model calls, the judge and
sweep episodes.

* :func:`is_retryable` says whether a failure is worth another attempt (a rate limit, a
  timeout, a dropped connection, a server error), by the exception's class names (its
  own and its bases', so litellm's and the direct transport's errors are classified
  the same without importing litellm) and its HTTP ``status_code``.
* :class:`Backoff` says how long to wait before retry ``n``: ``base * 2**n``, capped at
  ``cap``, with optional jitter (a random 50-100% of it, so a crowd of clients hit by
  the same rate limit does not come back at the same instant).
* :func:`retry` / :func:`aretry` run a call with both, and raise :class:`GaveUp` (the
  last error, the attempts, whether it was retryable) when it fails for good. A sweep's
  errored episode (a result, not an exception) is retried on :class:`Backoff` alone.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Optional, TypeVar

T = TypeVar("T")

# class names of transient failures (litellm's, openai's, the direct transport's, Python's)
RETRYABLE_NAMES = frozenset({
    "RateLimitError", "Timeout", "APITimeoutError", "APIConnectionError",
    "InternalServerError", "ServiceUnavailableError", "BadGatewayError",
    "TimeoutError", "ConnectionError"})
# HTTP statuses of transient failures: request timeout, conflict, rate limit, 5xx
RETRYABLE_STATUS = frozenset({408, 409, 429})


def is_retryable(exc: BaseException) -> bool:
    """True for failures another attempt may fix; False for a bad request, a bad key,
    an unknown model, and anything else."""
    if any(k.__name__ in RETRYABLE_NAMES for k in type(exc).__mro__):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and (status in RETRYABLE_STATUS or status >= 500)


@dataclass
class Backoff:
    """Waits between attempts: retry ``n`` (0 for the first retry) waits
    ``min(base * 2**n, cap)``, times a random 0.5-1.0 when ``jitter``."""

    base: float = 1.0
    cap: Optional[float] = 60.0
    jitter: bool = True
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def delay(self, n: int) -> float:
        d = self.base * (2 ** n)
        if self.cap is not None:
            d = min(d, self.cap)
        return d * (0.5 + 0.5 * self.rng.random()) if self.jitter else d


class GaveUp(Exception):
    """A call failed for good: ``cause`` (the last error), ``attempts``, ``retryable``
    (False: an error retrying cannot fix; True: retries exhausted)."""

    def __init__(self, cause: BaseException, attempts: int, retryable: bool):
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.cause, self.attempts, self.retryable = cause, attempts, retryable


def _check(exc: BaseException, attempt: int, retries: int,
           retryable: Callable[[BaseException], bool]) -> None:
    ok = retryable(exc)
    if not ok or attempt >= retries:
        raise GaveUp(exc, attempt + 1, ok) from exc


def retry(fn: Callable[[], T], retries: int, backoff: Backoff,
          retryable: Callable[[BaseException], bool] = is_retryable,
          sleep: Callable[[float], Any] = time.sleep) -> tuple[T, int]:
    """``fn()`` with up to ``retries`` retries; returns ``(result, attempts)``."""
    attempt = 0
    while True:
        try:
            return fn(), attempt + 1
        except Exception as exc:
            _check(exc, attempt, retries, retryable)
        sleep(backoff.delay(attempt))
        attempt += 1


async def aretry(fn: Callable[[], Awaitable[T]], retries: int, backoff: Backoff,
                 retryable: Callable[[BaseException], bool] = is_retryable,
                 sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> tuple[T, int]:
    """:func:`retry` for coroutines."""
    attempt = 0
    while True:
        try:
            return await fn(), attempt + 1
        except Exception as exc:
            _check(exc, attempt, retries, retryable)
        await sleep(backoff.delay(attempt))
        attempt += 1


__all__ = ["Backoff", "GaveUp", "RETRYABLE_NAMES", "aretry", "is_retryable", "retry"]
