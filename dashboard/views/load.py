"""Load (operator): launch a burst in a separate process, watch its timeline live, cancel it.

The live panel is a 1 s fragment that only reads the timeline the burst process writes.
"""

from __future__ import annotations

import streamlit as st

from core.errors import InvalidInput
from dashboard import jobs, services

st.title("Load")
if jobs.burst_manager() is None:
    st.warning(jobs.LOAD_UNAVAILABLE, icon=":material/construction:")
    st.stop()

for field, message in st.session_state.pop("load_errors", {}).items():
    st.error(f"**{field}**: {message}")

with st.form("burst"):
    c = st.columns(3)
    users = c[0].number_input("Users", 1, 1000, 10, key="b_users", help="concurrent simulated users")
    duration = c[1].number_input("Duration (s)", 1, 3600, 20, key="b_duration")
    think = c[2].number_input(
        "Think time (s)", 0.0, 60.0, 0.0, 0.1, key="b_think", help="pause between a user's questions"
    )
    mix = c[0].radio(
        "Question mix",
        ["zipf", "uniform"],
        horizontal=True,
        key="b_mix",
        help="zipf: a few popular questions come up often (cache-friendly)",
    )
    zipf_s = c[1].number_input("Zipf exponent", 0.1, 3.0, 1.1, 0.1, key="b_zipf")
    preset = c[2].selectbox("Preset", ["current settings", "optimized", "naive"], key="b_preset")
    if st.form_submit_button("Launch burst", type="primary"):
        spec = {
            "users": int(users),
            "duration_s": float(duration),
            "think_time_s": float(think),
            "mix": mix,
            "zipf_s": float(zipf_s),
            "preset": None if preset == "current settings" else preset,
        }
        try:
            st.session_state["burst_id"] = jobs.start_burst(**spec)
        except InvalidInput as exc:
            st.session_state["load_errors"] = {e["field"]: e["message"] for e in exc.errors}
        st.rerun()


@st.fragment(run_every=1)
def live(burst_id: str) -> None:
    status = jobs.burst_view(burst_id)
    rows = jobs.burst_timeline(burst_id)
    with st.container(key="load-tick"):
        st.markdown(
            f"Burst `{burst_id}` · **{status['state']}** · {len(rows)} s of timeline · "
            f"updated {services.clock()}"
        )
    if status.get("emulated"):
        st.info("This burst runs with EMULATED latency profiles.", icon=":material/science:")
    if status.get("error"):
        st.error(status["error"])
    if not status["finished"] and st.button("Cancel burst", key="b_cancel"):
        jobs.cancel_burst(burst_id)
    k = st.columns(5)
    last = rows[-1] if rows else {}
    k[0].metric("Throughput", f"{last.get('throughput', 0) or 0:.1f}/s")
    k[1].metric("p95", "–" if last.get("p95_ms") is None else f"{last['p95_ms']:.0f} ms")
    k[2].metric("Errors", int(sum(r.get("errors", 0) or 0 for r in rows)))
    k[3].metric("Rejected", int(sum(r.get("rejected", 0) or 0 for r in rows)))
    k[4].metric("In flight", int(last.get("in_flight", 0) or 0))
    fig = jobs.burst_figure(burst_id, rows, jobs.burst_marks(status))
    st.plotly_chart(fig, key="l_burst")
    if status["finished"] and status.get("summary"):
        st.markdown("**Summary**")
        st.json(status["summary"], expanded=False)


# ?burst=<id> opens a burst directly (a link another operator can follow)
burst_id = st.session_state.get("burst_id") or st.query_params.get("burst")
if burst_id:
    live(burst_id)

st.subheader("Past bursts")
past = jobs.past_bursts()
if past:
    st.dataframe(past, hide_index=True, key="b_past")
    pick = st.selectbox("Open a past burst", ["–", *[p["id"] for p in past]], key="b_pick")
    if pick != "–" and pick != burst_id:
        st.session_state["burst_id"] = pick
        st.rerun()
else:
    st.caption("No bursts yet.")
