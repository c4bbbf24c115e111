"""The research workflow: parse_query -> search_sources (fan-out) -> analyze_findings -> generate_summary."""
