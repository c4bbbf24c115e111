"""The ResearchOps operations dashboard (Streamlit); pages call ``dashboard.services`` only."""
