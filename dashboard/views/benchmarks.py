"""Benchmarks (operator): codec, validation and cache micro-benchmarks on this engine's real data."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, present, services

st.title("Benchmarks")
st.caption(
    "Measured here, now, on this machine, with this engine's latest result as the payload, real "
    "source documents and the real L2 backend. Published figures are the projects' own claims."
)
number = st.select_slider("Calls per round", [50, 100, 200, 500, 1000], value=200, key="bench_number")
if st.button("Run micro-benchmarks", type="primary", key="bench_run"):
    with st.spinner("Benchmarking…"):
        st.session_state["bench"] = services.run_benchmarks(number)

res = st.session_state.get("bench")
if res:
    st.subheader("Codecs: one result, encode + decode")
    st.dataframe(res["codecs"], hide_index=True, key="bench_codecs")
    a, b = st.columns(2)
    a.plotly_chart(
        charts.benchmark_bars(res["codecs"], "codec", "round_trip_us", "Round trip (µs, lower is better)"),
        key="bench_codec_us",
    )
    b.plotly_chart(
        charts.benchmark_bars(res["codecs"], "codec", "speedup_vs_json", "Speed-up vs stdlib json"),
        key="bench_codec_speedup",
    )
    st.subheader("Validation modes: a batch of real source documents")
    st.dataframe(res["validation"], hide_index=True, key="bench_validation")
    st.plotly_chart(
        charts.benchmark_bars(res["validation"], "mode", "us_per_document", "µs per document"),
        key="bench_val_chart",
    )
    st.subheader("Cache hit latency")
    if res["cache"]:
        st.dataframe(res["cache"], hide_index=True, key="bench_cache")
        st.plotly_chart(
            charts.benchmark_bars(res["cache"], "level", "hit_us", "Hit latency (µs, median)", log=True),
            key="bench_cache_chart",
        )
    else:
        st.info("No cache in this configuration.")

st.subheader("Published claims, for comparison")
st.dataframe(present.PUBLISHED_CLAIMS, hide_index=True, key="bench_claims")
