"""The retry rules on their own, as the Rust client has them: only safe
requests are repeated after a failure, a 429 waits for Retry-After
whatever the method, waits are bounded and jittered."""

from __future__ import annotations

from paygate import RetryPolicy


def test_only_safe_requests_are_repeated_after_a_failure():
    policy = RetryPolicy()
    assert policy.delay(0, False, None) is None
    assert policy.delay(0, False, 500) is None
    assert policy.delay(0, False, 503, retry_after=1) is None
    assert policy.delay(0, True, None) is not None
    assert policy.delay(0, True, 502) is not None
    assert policy.delay(0, True, 409, "idempotency_in_progress") is not None
    assert policy.delay(0, True, 409, "invalid_state") is None
    assert policy.delay(0, True, 400) is None
    assert policy.delay(0, True, 422) is None


def test_a_429_waits_for_retry_after_whatever_the_method():
    policy = RetryPolicy()
    wait = policy.delay(0, False, 429, "rate_limited", 3)
    assert wait is not None and 3 <= wait <= 3.1
    assert policy.delay(0, True, 429, retry_after=3600) is None, "too long a wait is not taken"
    assert policy.delay(3, True, 429, retry_after=1) is None, "retries are bounded"


def test_backoff_is_full_jitter_under_a_doubling_cap():
    policy = RetryPolicy()
    for retry in range(3):
        assert all(0 <= policy.backoff(retry) <= 0.5 * 2**retry for _ in range(200))
    assert len({policy.backoff(2) for _ in range(50)}) > 10, "waits are spread out"
    assert all(policy.backoff(30) <= 8 for _ in range(200))
