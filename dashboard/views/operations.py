"""Operations (operator): live engine modes, presets, emulation profiles, change log, cache purge."""

from __future__ import annotations

from typing import Any, get_args

import streamlit as st

from core.config import CacheMode, CodecName, ExecutionMode, StateHandling, ValidationMode
from core.errors import InvalidInput
from dashboard import present, services

st.title("Operations")
cur = services.current_settings()
top = st.columns([1, 1, 3])
top[0].metric("Settings version", f"v{cur.version}")
top[1].metric("Preset", cur.preset or "custom")
if cur.emulated:
    top[2].warning("EMULATED latency is on: results report `emulated: true`.", icon=":material/science:")

notice = st.session_state.pop("ops_notice", None)
if notice:
    st.success(notice, icon=":material/check_circle:")
for field, message in st.session_state.pop("ops_errors", {}).items():
    st.error(f"**{field}**: {message}")


def apply(**changes: Any) -> None:
    """Apply a change and report the new version on the next run.

    The form widgets are keyed by settings version (``wkey``), so after a change they are new
    widgets showing the new settings (a preset changes fields the form did not touch)."""
    if not changes:
        st.session_state["ops_notice"] = f"No change: still v{services.current_settings().version}."
        return
    try:
        new = services.update_settings(**changes)
    except InvalidInput as exc:
        st.session_state["ops_errors"] = {e["field"]: e["message"] for e in exc.errors}
    else:
        st.session_state["ops_notice"] = (
            f"Applied: now running settings **v{new.version}** ({new.preset or 'custom'})."
        )


st.subheader("Presets")
p1, p2, _ = st.columns([1, 1, 3])
if p1.button("Naive preset", key="preset_naive", help="cache off, json, strict, sequential, copies"):
    apply(preset="naive")
    st.rerun()
if p2.button("Optimized preset", key="preset_optimized", type="primary"):
    apply(preset="optimized")
    st.rerun()


def wkey(name: str) -> str:
    """A widget key tied to the settings version shown (stale browser-side values cannot come back)."""
    return f"{name}_v{cur.version}"


def _index(options: tuple[str, ...], value: str) -> int:
    return options.index(value) if value in options else 0


st.subheader("Live modes")
with st.form("modes"):
    c = st.columns(3)
    opts = {
        name: get_args(t)
        for name, t in [
            ("cache", CacheMode),
            ("codec", CodecName),
            ("validation", ValidationMode),
            ("execution", ExecutionMode),
            ("state_handling", StateHandling),
        ]
    }
    values: dict[str, Any] = {
        "cache": c[0].selectbox(
            "Cache", opts["cache"], _index(opts["cache"], cur.cache), key=wkey("m_cache")
        ),
        "codec": c[1].selectbox(
            "Codec", opts["codec"], _index(opts["codec"], cur.codec), key=wkey("m_codec")
        ),
        "validation": c[2].selectbox(
            "Validation",
            opts["validation"],
            _index(opts["validation"], cur.validation),
            key=wkey("m_validation"),
        ),
        "execution": c[0].selectbox(
            "Execution", opts["execution"], _index(opts["execution"], cur.execution), key=wkey("m_execution")
        ),
        "state_handling": c[1].selectbox(
            "State handling",
            opts["state_handling"],
            _index(opts["state_handling"], cur.state_handling),
            key=wkey("m_state"),
        ),
        "lazy_validation": c[2].toggle("Lazy validation", cur.lazy_validation, key=wkey("m_lazy")),
        "max_concurrent": c[0].number_input(
            "Max concurrent workflows", 1, 100_000, cur.max_concurrent, key=wkey("m_max_concurrent")
        ),
        "queue_limit": c[1].number_input("Queue limit", 0, 1_000_000, cur.queue_limit, key=wkey("m_queue")),
        "result_ttl_s": c[2].number_input(
            "Result TTL (s)", 1, 30 * 86_400, cur.result_ttl_s, key=wkey("m_rttl")
        ),
        "node_ttl_s": c[2].number_input("Node TTL (s)", 1, 30 * 86_400, cur.node_ttl_s, key=wkey("m_nttl")),
    }
    if st.form_submit_button("Apply modes", type="primary"):
        apply(**services.mode_changes(values))
        st.rerun()

st.subheader("Emulation profiles — EMULATED latency, not measured")
st.caption(
    "Lognormal latency with a failure rate, for load demos without a network. Every result and "
    "report made while a profile is on says `emulated: true`."
)
with st.form("emulation"):
    cols = st.columns(2)
    profiles = {}
    for col, (field, label) in zip(
        cols, [("model_latency", "Model calls"), ("source_latency", "Sources")], strict=True
    ):
        prof = getattr(cur, field)
        with col:
            st.markdown(f"**{label}** (EMULATED)")
            on = st.toggle(f"Emulate {label.lower()} latency", prof is not None, key=wkey(f"e_{field}_on"))
            med = st.number_input(
                "Median (ms)", 0.0, 60_000.0, prof.median_ms if prof else 300.0, key=wkey(f"e_{field}_med")
            )
            sig = st.number_input(
                "Sigma (tail)", 0.0, 3.0, prof.sigma if prof else 0.5, 0.1, key=wkey(f"e_{field}_sig")
            )
            fail = st.number_input(
                "Failure rate",
                0.0,
                1.0,
                prof.failure_rate if prof else 0.0,
                0.01,
                key=wkey(f"e_{field}_fail"),
            )
            profiles[field] = present.latency_profile(on, med, sig, fail)
    if st.form_submit_button("Apply emulation"):
        cur_dump = cur.model_dump()
        apply(**{k: v for k, v in profiles.items() if cur_dump.get(k) != v})
        st.rerun()

left, right = st.columns([3, 2])
with left:
    st.subheader("Change log")
    st.dataframe(services.settings_changes(), hide_index=True, key="change_log")
with right:
    st.subheader("Current settings")
    st.dataframe(present.settings_rows(cur.modes()), hide_index=True)

st.subheader("Cache")
stats = services.cache_stats()
if stats is None:
    st.info("No cache in this configuration.")
else:
    m = st.columns(5)
    m[0].metric("Codec (L2)", stats.get("codec", "?"))
    m[1].metric("L2 backend", stats.get("l2_backend") or "none")
    m[2].metric("L1 entries", stats["l1"].get("size", 0))
    m[3].metric("L1 MiB", f"{stats['l1'].get('bytes', 0) / 2**20:.1f}")
    m[4].metric("L2 entries", "?" if stats["l2"].get("size") is None else stats["l2"]["size"])
    st.dataframe(present.cache_rows(stats), hide_index=True, key="cache_stats")
    with st.form("purge"):
        scope = st.radio("Purge", ["all", "node", "question"], horizontal=True, key="purge_scope")
        node = st.selectbox("Node (for 'node')", services.cache_nodes(), key="purge_node")
        question = st.text_input("Question (for 'question')", key="purge_question")
        if st.form_submit_button("Purge cache"):
            if scope == "question" and not question.strip():
                st.session_state["ops_errors"] = {"question": "enter the question whose entries to purge"}
            else:
                n = services.purge_cache(
                    node=node if scope == "node" else None, question=question if scope == "question" else None
                )
                st.session_state["ops_notice"] = f"Purged {n} cache entries ({scope})."
            st.rerun()
