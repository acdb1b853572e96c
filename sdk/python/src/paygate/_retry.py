"""When a request is sent again, and after how long.

Only what is safe to repeat is retried: ``GET`` and ``PUT``, and a ``POST``
carrying an ``Idempotency-Key`` (the server replays the first answer instead
of acting twice). A ``429`` is retried whatever the method: the server
refused it before it ran. Waits grow exponentially with full jitter, and the
``Retry-After`` of a ``429`` or ``503`` is honoured as given (a wait longer
than ``max_retry_after`` is not taken: the error is raised). ``DELETE`` is
never retried, nor a server whose certificate TLS refused."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

TRANSPORT = "transport"


@dataclass(frozen=True)
class RetryPolicy:
    """How many times, and how long to wait (seconds)."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 60.0

    def delay(
        self,
        retry: int,
        safe_to_repeat: bool,
        status: Optional[int],
        code: Optional[str] = None,
        retry_after: Optional[int] = None,
    ) -> Optional[float]:
        """The wait before retry number ``retry`` (0-based), or ``None`` when
        the attempt must not be repeated. ``status`` is ``None`` when the
        request got no answer at all."""
        if retry >= self.max_retries:
            return None
        if status == 429 or (status == 503 and safe_to_repeat):
            return self._after(retry, retry_after)
        if not safe_to_repeat:
            return None
        if status is None or status in (500, 502, 504) or code == "idempotency_in_progress":
            return self.backoff(retry)
        return None

    def _after(self, retry: int, retry_after: Optional[int]) -> Optional[float]:
        if retry_after is None:
            return self.backoff(retry)
        if retry_after > self.max_retry_after:
            return None
        # A little past the time given, so the slot has surely freed.
        return retry_after + random.uniform(0, 0.1)

    def backoff(self, retry: int) -> float:
        """Full jitter: uniform between zero and ``min(max_delay, base * 2**retry)``."""
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**retry))
