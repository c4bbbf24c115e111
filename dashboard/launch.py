"""Start the dashboard: ``streamlit run dashboard/app.py`` with the project's config.

.venv/bin/python -m dashboard.launch --port 8501

The launcher *becomes* the Streamlit server (``os.execve``): one process, so SIGTERM or Ctrl-C to
what ``make app`` started stops the server itself, and nothing is left holding the port.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "dashboard" / "app.py"
DEFAULT_PORT = 8501
DEFAULT_METRICS_PORT = "9464"  # what `researchops metrics` and deploy/prometheus.yml expect


def command(port: int) -> list[str]:
    """The streamlit command line (same interpreter; options that must hold even without config.toml)."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.port",
        str(port),
        "--server.headless",
        "true",
        "--browser.gatherUsageStats",
        "false",
        "--server.fileWatcherType",
        "none",
    ]


def main(port: int | None = None) -> int:
    """Print the URLs, then replace this process with the Streamlit server (returns only on error)."""
    port = port or DEFAULT_PORT
    env = {"RESEARCHOPS_METRICS_PORT": DEFAULT_METRICS_PORT, **os.environ}
    print(f"ResearchOps dashboard: http://localhost:{port}  (Ctrl-C to stop)", flush=True)
    print(f"  its metrics: http://127.0.0.1:{env['RESEARCHOPS_METRICS_PORT']}/metrics", flush=True)
    os.chdir(ROOT)  # so .streamlit/config.toml and .streamlit/secrets.toml are found
    cmd = command(port)
    os.execve(cmd[0], cmd, env)
    return 1  # not reached: execve either replaces the process or raises


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m dashboard.launch")
    parser.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    sys.exit(main(parser.parse_args().port))
