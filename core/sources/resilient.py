"""``ResilientSource``: timeouts, retries with backoff and jitter, and emulated remote latency.

Every attempt runs under ``asyncio.timeout(timeout_s)``. With a ``LatencyProfile``, an attempt
first sleeps a lognormal delay (``core.emulation``: median ``median_ms``, shape ``sigma``, tail
truncated at +4 sigma) and then fails with probability ``failure_rate`` — an *emulated* remote
source, always reported as such (``SearchOutcome.emulated`` / ``emulated_s``). Failed attempts
(``SourceError`` or timeout) are retried by tenacity with exponential backoff and full jitter
(50 ms doubling, capped at 1 s), up to ``retries`` times after the first attempt; then
``SourceTimeout`` or ``SourceError`` is raised with the reason and the attempt count.
"""

from __future__ import annotations

import asyncio
import random
import time

from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from core.config import LatencyProfile
from core.emulation import fails, sample_s
from core.errors import SourceError, SourceTimeout
from core.sources.base import Hit, SearchOutcome, Source


class ResilientSource:
    """Wraps a ``Source`` with a per-attempt timeout, retries and optional emulated latency.

    >>> # rs = ResilientSource(stdlib_source, timeout_s=5, retries=2)
    >>> # outcome = await rs.search("run coroutines concurrently", 5, profile=LatencyProfile(median_ms=80))
    """

    def __init__(
        self,
        inner: Source,
        *,
        timeout_s: float,
        retries: int,
        rng: random.Random | None = None,
        backoff_initial_s: float = 0.05,
        backoff_max_s: float = 1.0,
    ) -> None:
        if timeout_s <= 0 or retries < 0:
            raise ValueError("timeout_s must be > 0 and retries >= 0")
        self.inner = inner
        self.timeout_s = timeout_s
        self.retries = retries
        self.rng = rng or random.Random()
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def description(self) -> str:
        return self.inner.description

    @property
    def version(self) -> str:
        return self.inner.version

    @property
    def doc_count(self) -> int:
        return self.inner.doc_count

    def emulated_delay_s(self, profile: LatencyProfile) -> float:
        """One lognormal draw (``median_ms`` the median, ``sigma`` the shape), truncated at +4 sigma."""
        return sample_s(profile, self.rng)

    async def search(self, query: str, k: int, *, profile: LatencyProfile | None = None) -> SearchOutcome:
        """Search with timeout, retries and (if ``profile``) emulated remote latency and failures.

        Raises ``SourceTimeout`` when the last attempt timed out, ``SourceError`` otherwise.
        """
        t0 = time.perf_counter()
        attempts = 0
        emulated_s = 0.0
        errors: list[str] = []

        async def attempt() -> list[Hit]:
            nonlocal attempts, emulated_s
            attempts += 1
            try:
                async with asyncio.timeout(self.timeout_s):
                    if profile is not None:
                        start = time.perf_counter()
                        try:
                            await asyncio.sleep(self.emulated_delay_s(profile))
                        finally:  # a timeout cuts the sleep short: count what was really slept
                            emulated_s += time.perf_counter() - start
                        if fails(profile, self.rng):
                            raise SourceError(self.name, "emulated remote failure")
                    return (await self.inner.search(query, k)).hits
            except TimeoutError as exc:
                reason = f"no answer within {self.timeout_s:g}s"
                errors.append(reason)
                raise SourceTimeout(self.name, reason) from exc
            except SourceError as exc:
                errors.append(exc.reason)
                raise
            except Exception as exc:  # a bug in a source: fail it now, retrying won't help
                raise _Unexpected(self.name, f"unexpected {exc!r}") from exc

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retries + 1),
            wait=wait_random_exponential(multiplier=self.backoff_initial_s, max=self.backoff_max_s),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            hits: list[Hit] = await retrying(attempt)
        except SourceTimeout as exc:
            raise SourceTimeout(self.name, f"{exc.reason} ({_tries(attempts)})") from exc
        except SourceError as exc:
            raise SourceError(self.name, f"{exc.reason} ({_tries(attempts)})") from exc
        return SearchOutcome(
            source=self.name,
            hits=hits,
            attempts=attempts,
            seconds=time.perf_counter() - t0,
            emulated=profile is not None,
            emulated_s=emulated_s,
            errors=errors,
        )

    def __repr__(self) -> str:
        return f"<ResilientSource {self.inner!r} timeout={self.timeout_s}s retries={self.retries}>"


def _tries(n: int) -> str:
    return f"after {n} attempt{'s' if n != 1 else ''}"


class _Unexpected(SourceError):
    """A source raised something other than SourceError/TimeoutError: reported, never retried."""


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, (SourceError, TimeoutError)) and not isinstance(exc, _Unexpected)
