"""Research: ask a question, read the cited answer, its findings and where the run's time went."""

from __future__ import annotations

import streamlit as st

from core.errors import InvalidInput, Overloaded
from core.models import MAX_SOURCES_MAX, MAX_SOURCES_MIN, QUESTION_MAX, QUESTION_MIN, ResearchResult
from dashboard import charts, present, services

st.title("Research")
st.caption("Ask a question; the answer cites the findings it was built from.")

names = services.source_names()
errors: dict[str, str] = st.session_state.get("research_errors", {})

with st.form("ask"):
    q_col, err_col = st.columns([3, 1])
    question = q_col.text_area(
        "Question",
        key="question",
        height=90,
        max_chars=QUESTION_MAX,
        help=f"{QUESTION_MIN}-{QUESTION_MAX} characters",
        placeholder="How do I run coroutines concurrently and wait for all of them?",
    )
    if errors.get("question"):
        err_col.error(errors["question"], icon=":material/error:")
    s_col, m_col = st.columns([3, 1])
    chosen = s_col.multiselect("Sources", names, default=names, key="sources", help="Empty = every source")
    if errors.get("domains"):
        s_col.error(errors["domains"])
    max_sources = m_col.number_input("Max sources", MAX_SOURCES_MIN, MAX_SOURCES_MAX, 10, key="max_sources")
    if errors.get("max_sources"):
        m_col.error(errors["max_sources"])
    submitted = st.form_submit_button("Run research", type="primary")

if submitted:
    had_errors = bool(st.session_state.pop("research_errors", None))
    try:
        with st.spinner("Researching…"):
            result = services.ask(question, sources=chosen, max_sources=int(max_sources))
    except InvalidInput as exc:
        st.session_state["research_errors"] = {e["field"]: e["message"] for e in exc.errors}
        st.rerun()
    except Overloaded as exc:
        st.warning(f"The engine is at capacity: {exc}. Try again in a moment.", icon=":material/hourglass:")
    else:
        st.session_state["last_result"] = result
        history = st.session_state.setdefault("session_questions", [])
        history.insert(
            0,
            {
                "question": result.question,
                "status": result.status.value,
                "findings": len(result.findings),
                "ms": round(result.processing_time_s * 1000, 1),
                "cached": result.cached,
            },
        )
        if had_errors:  # the stale field errors were drawn above; draw the page again without them
            st.rerun()

shown: ResearchResult | None = st.session_state.get("last_result")
if shown is not None:
    result = shown
    head = st.columns(4)
    head[0].metric("Status", result.status.value)
    head[1].metric("Time", f"{result.processing_time_s * 1000:.0f} ms")
    head[2].metric("Confidence", f"{result.confidence:.0%}")
    head[3].metric("Settings", f"v{result.settings_version}")
    if result.emulated:
        st.info(
            "**Emulated latency**: model and/or source latency in this run was emulated "
            "(Operations → emulation profiles), not measured.",
            icon=":material/science:",
        )
    if result.cached:
        st.success("Served whole from the result cache.", icon=":material/bolt:")
    for failed in result.failed_sources:
        st.warning(f"Source **{failed.source}** did not answer ({failed.kind}): {failed.reason}")

    st.subheader("Answer")
    with st.container(border=True, key="answer"):
        st.markdown(present.linked_summary(result.summary, len(result.findings)) or "_No answer found._")
    if result.key_terms:
        st.caption("Key terms: " + ", ".join(result.key_terms))

    st.subheader(f"Findings ({len(result.findings)})")
    for i, f in enumerate(result.findings, start=1):
        st.markdown(f"##### [{i}] {present.escape_md(f.title)}", unsafe_allow_html=False)
        st.html(f'<a id="{present.finding_anchor(i)}"></a>')
        st.caption(f"{f.source} · `{f.location}` · relevance {f.relevance:.2f}")
        st.text(f.snippet)

    left, right = st.columns([2, 1])
    left.plotly_chart(charts.waterfall(result.timings), key="waterfall")
    hits = [t.node for t in result.timings if t.cache_hit]
    right.markdown("**Cache hits**: " + (", ".join(f"`{h}`" for h in hits) if hits else "none"))
    right.dataframe(present.node_rows(result.timings), hide_index=True)

if st.session_state.get("session_questions"):
    st.subheader("This session's questions")
    st.dataframe(st.session_state["session_questions"], hide_index=True)
