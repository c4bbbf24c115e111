"""Operations (operator): live engine modes, presets, emulation profiles, change log, cache purge."""

from __future__ import annotations

from typing import Any, get_args

import streamlit as st

from core.config import AgentsMode, CacheMode, CodecName, ExecutionMode, StateHandling, ValidationMode
from core.errors import InvalidInput
from dashboard import present, services, tables

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
            ("agents", AgentsMode),
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
        "agents": c[0].selectbox(
            "Agents (offline model)",
            opts["agents"],
            _index(opts["agents"], cur.agents),
            key=wkey("m_agents"),
            help="pydantic_ai: the offline model through Pydantic AI's agents (the framework's cost "
            "included); direct: the same functions called straight, same answers. A real provider "
            "always goes through Pydantic AI.",
        ),
        "max_concurrent": c[0].number_input(
            "Max concurrent workflows", 1, 100_000, cur.max_concurrent, key=wkey("m_max_concurrent")
        ),
        "queue_limit": c[1].number_input(
            "Queue limit",
            0,
            1_000_000,
            cur.queue_limit,
            placeholder="auto: 4 × max concurrent",
            help="Runs that may wait for a slot; beyond it a run is refused at once (HTTP 429). "
            "Empty: 4 × max concurrent.",
            key=wkey("m_queue"),
        ),
        "queue_deadline_s": c[2].number_input(
            "Queue deadline (s)",
            0.1,
            3600.0,
            cur.queue_deadline_s,
            placeholder="none",
            help="The longest a run waits in the queue before it is refused.",
            key=wkey("m_qdeadline"),
        ),
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

st.subheader("Change log")
tables.show(
    tables.frame(services.settings_changes()),
    "change_log",
    {
        "version": tables.num("version", "v%d"),
        "at": tables.text("at", "small"),
        "preset": tables.text("preset", "small"),
        "changed": tables.text("changed", None),  # sized to its content: a preset changes many modes
    },
)
with st.expander("Current settings (every mode)"):
    current = tables.frame(present.settings_rows(cur.modes()))
    tables.show(
        current,
        "current_settings",
        {"setting": tables.text("setting"), "value": tables.text("value", "large")},
        height=36 * (len(current) + 1) + 2,  # every row, no inner scroll
    )

st.subheader("Cache")
stats = services.cache_stats()
if stats is None:
    st.info("No cache in this configuration.")
else:
    panel = present.cache_panel(stats, cur.cache, cur.codec)
    m = st.columns(5)
    m[0].metric("Cache mode (live)", panel["mode"], help=panel["mode_help"])
    m[1].metric(panel["l2_label"], panel["l2"], help=panel["l2_help"])
    m[2].metric("L2 codec", panel["l2_codec"], help=panel["l2_codec_help"])
    m[3].metric("L1 entries", panel["l1_entries"], help=f"{panel['l1_mib']} in memory")
    m[4].metric(panel["l2_entries_label"], panel["l2_entries"], help=panel["l2_entries_help"])
    st.caption(panel["note"])
    tables.show(
        tables.frame(present.cache_rows(stats), present.CACHE_COLUMNS),
        "cache_stats",
        {
            "level": tables.text("level", "small"),
            "namespace": tables.text("namespace"),
            "hit_rate": tables.rate("hit rate", help="hits / (hits + misses)"),
        },
    )
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
