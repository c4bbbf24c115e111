"""Start the dashboard: ``streamlit run dashboard/app.py`` with the project's config, in a subprocess.

.venv/bin/python -m dashboard.launch --port 8501
"""

from __future__ import annotations

import argparse
import os
import subprocess
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
    """Run the dashboard until interrupted; prints its URL. Returns the server's exit status."""
    port = port or DEFAULT_PORT
    env = {"RESEARCHOPS_METRICS_PORT": DEFAULT_METRICS_PORT, **os.environ}
    print(f"ResearchOps dashboard: http://localhost:{port}  (Ctrl-C to stop)", flush=True)
    print(f"  its metrics: http://127.0.0.1:{env['RESEARCHOPS_METRICS_PORT']}/metrics", flush=True)
    # cwd = the repo so .streamlit/config.toml and .streamlit/secrets.toml are found
    proc = subprocess.Popen(command(port), cwd=ROOT, env=env)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        try:
            return proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            return 130


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m dashboard.launch")
    parser.add_argument("--port", type=int, default=None, help=f"port (default {DEFAULT_PORT})")
    sys.exit(main(parser.parse_args().port))
