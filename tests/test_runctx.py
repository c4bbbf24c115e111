"""core.runctx.attribute_phases: a run's phase breakdown adds up to its wall time (to 1e-9 s)."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.runctx import PHASES, RunContext, attribute_phases

TOL = 1e-9  # float rounding only: the attribution partitions [t0, t1] exactly

span = st.tuples(
    st.sampled_from(PHASES[:-1]), st.floats(-1, 11, allow_nan=False), st.floats(0, 5, allow_nan=False)
).map(lambda t: (t[0], t[1], t[1] + t[2]))


@given(st.lists(span, max_size=12), st.floats(0, 10))
def test_parts_add_up_to_wall_time(spans: list[tuple[str, float, float]], length: float) -> None:
    out = attribute_phases(spans, 0.0, length)
    assert set(out) == set(PHASES)
    assert all(v >= 0 for v in out.values())
    assert sum(out.values()) == pytest.approx(length, abs=TOL)


def test_parallel_overlap_is_counted_once() -> None:
    # two sources in parallel over [1, 3] and [2, 5]; an LLM call [4, 6] wins its overlap
    spans = [("sources", 1.0, 3.0), ("sources", 2.0, 5.0), ("llm", 4.0, 6.0)]
    out = attribute_phases(spans, 0.0, 7.0)
    assert out["sources"] == pytest.approx(3.0)  # [1, 4], not 2 + 3
    assert out["llm"] == pytest.approx(2.0)
    assert out["graph"] == pytest.approx(2.0)  # [0, 1] and [6, 7]
    assert sum(out.values()) == pytest.approx(7.0, abs=TOL)


async def test_a_real_async_run_breaks_down_into_its_wall_time() -> None:
    ctx = RunContext(run_id="r1", settings=None)

    async def fetch(delay: float) -> None:
        with ctx.span("sources"):
            await asyncio.sleep(delay)

    await asyncio.gather(fetch(0.02), fetch(0.03))  # parallel: counted once
    with ctx.span("llm"):
        await asyncio.sleep(0.01)
    end = time.perf_counter()
    out = ctx.phase_breakdown(end)
    assert sum(out.values()) == pytest.approx(end - ctx.t0, abs=TOL)
    spans = [(s, e) for p, s, e in ctx.spans if p == "sources"]
    union = max(e for _, e in spans) - min(s for s, _ in spans)  # the two spans overlap
    assert out["sources"] == pytest.approx(union, abs=TOL)
