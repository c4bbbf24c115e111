"""The dashboard's router: builds the page list for the session's role and runs the chosen page.

A page missing from the role's list does not exist for ``st.navigation``, so it cannot be reached by
URL either. Run with ``.venv/bin/python -m core.cli dashboard`` (``make app``).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `streamlit run dashboard/app.py` puts dashboard/ on the path, not the repo
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from dashboard import auth, services  # noqa: E402

# Not "pages/": that folder name turns on Streamlit's legacy file-based pages, which can run a page
# without this router (so without the role gate).
VIEWS = Path(__file__).resolve().parent / "views"
EVERYONE = [("research.py", "Research", ":material/search:"), ("history.py", "History", ":material/history:")]
OPERATOR = [
    ("operations.py", "Operations", ":material/tune:"),
    ("load.py", "Load", ":material/speed:"),
    ("metrics.py", "Metrics", ":material/monitoring:"),
    ("experiments.py", "Experiments", ":material/science:"),
    ("benchmarks.py", "Benchmarks", ":material/timer:"),
]


def pages_for(role: auth.Role) -> dict[str, list[st.Page]]:
    """The navigation for ``role``: researchers get Research and History only."""

    def page(file: str, title: str, icon: str, default: bool = False) -> st.Page:
        return st.Page(VIEWS / file, title=title, icon=icon, default=default)

    nav = {"Research": [page(*EVERYONE[0], default=True), page(*EVERYONE[1])]}
    if role == "operator":
        nav["Operate"] = [page(*p) for p in OPERATOR]
    return nav


# A local file: a Material or emoji icon makes the browser fetch the favicon from a CDN.
FAVICON = Path(__file__).resolve().parent / "static" / "favicon.png"
st.set_page_config(page_title="ResearchOps", page_icon=str(FAVICON), layout="wide")
cfg = auth.config(services.settings().operator_password_hash)
store = services.auth_store()
role = auth.role(cfg, store)
st.session_state["current_role"] = role
auth.sidebar(cfg, role, store)
st.navigation(pages_for(role)).run()
