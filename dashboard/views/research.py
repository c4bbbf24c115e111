"""Research: ask a question, read the cited answer, its findings and where the run's time went."""

from __future__ import annotations

from typing import Any

import streamlit as st

from core.errors import InvalidInput, Overloaded
from core.models import MAX_SOURCES_MAX, MAX_SOURCES_MIN, QUESTION_MAX, QUESTION_MIN, ResearchResult
from dashboard import charts, present, services, sourcemd, tables

st.title("Research")
st.caption("Ask a question; the answer cites the findings it was built from.")

names = services.source_names()
errors: dict[str, str] = st.session_state.get("research_errors", {})

with st.form("ask"):
    # No max_chars: Streamlit would cut a long paste (or empty the box) without a word; the engine's
    # own validation refuses it below, naming the limit, and the text stays in the box to shorten.
    question = st.text_area(
        "Question",
        key="question",
        height=90,
        help=f"{QUESTION_MIN}-{QUESTION_MAX} characters",
        placeholder="How do I run coroutines concurrently and wait for all of them?",
    )
    if errors.get("question"):
        st.error(errors["question"], icon=":material/error:")
    s_col, m_col = st.columns([3, 1])
    chosen = s_col.multiselect("Sources", names, default=names, key="sources", help="Empty = every source")
    if errors.get("domains"):
        s_col.error(errors["domains"], icon=":material/error:")
    # No min/max on the widget: an out-of-range value would block the submit in the browser with no
    # message; validation says why instead, beside the field.
    max_sources = m_col.number_input(
        "Max sources", value=10, step=1, key="max_sources", help=f"{MAX_SOURCES_MIN}-{MAX_SOURCES_MAX}"
    )
    if errors.get("max_sources"):
        m_col.error(errors["max_sources"], icon=":material/error:")
    submitted = st.form_submit_button("Run research", type="primary")

if submitted:
    st.session_state.pop("research_errors", None)
    try:
        with st.spinner("Researching…"):
            result = services.ask(question, sources=chosen, max_sources=int(max_sources))
    except InvalidInput as exc:
        st.session_state["research_errors"] = present.field_errors(exc.errors, question=question)
        st.session_state["research_blocked"] = question  # the answer shown is not to this question
    except Overloaded as exc:
        st.session_state["research_blocked"] = question
        st.session_state["research_overloaded"] = str(exc)
    else:
        st.session_state.pop("research_blocked", None)
        st.session_state["last_result"] = result
        original = (
            services.original_time(result, {"max_sources": int(max_sources), "domains": tuple(chosen)})
            if result.cached
            else None
        )
        st.session_state["last_original_s"] = original
        st.session_state.setdefault("session_questions", []).insert(
            0,
            {
                "question": result.question,
                "status": result.status.value,
                "findings": len(result.findings),
                "ms": round(result.processing_time_s * 1000, 1),
                "cached": result.cached,
            },
        )
    st.rerun()  # draw the form again with this submit's field errors (or none)

if overloaded := st.session_state.pop("research_overloaded", None):
    st.warning(f"The engine is at capacity: {overloaded}. Try again shortly.", icon=":material/hourglass:")


def roomy(fig: Any, result: ResearchResult) -> Any:
    """Room right of the last bar for its ``N ms`` label (drawn outside the bar, it was cut off)."""
    end = max((t.start_s + t.duration_s for t in result.timings), default=0.0) * 1000
    fig.update_traces(cliponaxis=False)
    fig.update_xaxes(range=[0, max(end, 0.1) * 1.25])
    fig.update_layout(margin={"r": 60}, title_text="")  # the page heading names it
    return fig


def show_result(result: ResearchResult) -> None:
    head = st.columns(4)
    head[0].metric("Status", result.status.value)
    head[1].metric("Time", f"{result.processing_time_s * 1000:.1f} ms")
    head[2].metric("Confidence", f"{result.confidence:.0%}")
    head[3].metric("Settings", f"v{result.settings_version}")
    if result.emulated:
        st.info(
            "**Emulated latency**: model and/or source latency in this run was emulated "
            "(Operations → emulation profiles), not measured.",
            icon=":material/science:",
        )
    if result.cached:
        level = present.cache_level(result.timings)
        note = present.cache_note(result.processing_time_s, st.session_state.get("last_original_s"), level)
        st.success(note, icon=":material/bolt:")
    for failed in result.failed_sources:
        st.warning(f"Source **{failed.source}** did not answer ({failed.kind}): {failed.reason}")

    st.subheader("Answer")
    with st.container(border=True, key="answer"):
        st.markdown(f"**Question:** {sourcemd.escape_md(result.question)}")
        st.markdown(sourcemd.linked_summary(result.summary, len(result.findings)) or "_No answer found._")
    if result.key_terms:
        st.caption("Key terms: " + ", ".join(result.key_terms))

    st.subheader(f"Findings ({len(result.findings)})")
    for i, f in enumerate(result.findings, start=1):
        st.markdown(f"##### [{i}] {sourcemd.escape_md(f.title)}")
        st.html(f'<a id="{sourcemd.finding_anchor(i)}"></a>')
        st.caption(f"{f.source} · `{f.location}` · relevance {f.relevance:.2f}")
        with st.container(border=True, key=f"finding_{i}"):
            st.markdown(sourcemd.source_markdown(f.snippet))

    st.subheader("Where the time went")
    st.plotly_chart(roomy(charts.waterfall(result.timings), result), key="waterfall")
    hits = [t.node for t in result.timings if t.cache_hit]
    st.markdown("**Cache hits**: " + (", ".join(f"`{h}`" for h in hits) if hits else "none"))
    tables.show(
        tables.frame(present.node_rows(result.timings)),
        "node_timings",
        {
            "node": tables.text("node", "large"),
            "start_ms": tables.ms("start", "%.2f ms"),
            "duration_ms": tables.ms("duration", "%.2f ms"),
            "cache_hit": st.column_config.CheckboxColumn("cache hit"),
        },
    )


shown: ResearchResult | None = st.session_state.get("last_result")
blocked = st.session_state.get("research_blocked")
if shown is not None and blocked is not None:
    # The submit was refused: the answer on screen is to the previous question, so say so and fold it.
    with st.expander(f"Previous answer (to: “{shown.question}”)", expanded=False):
        show_result(shown)
elif shown is not None:
    show_result(shown)

if st.session_state.get("session_questions"):
    st.subheader("This session's questions")
    tables.show(
        tables.frame(st.session_state["session_questions"]),
        "session_questions",
        {
            "question": tables.text("question", "large"),
            "findings": tables.num("findings"),
            "ms": tables.ms("time", "%.1f ms"),
            "cached": st.column_config.CheckboxColumn("from cache"),
        },
    )
