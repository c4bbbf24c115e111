"""The launcher is the server: a signal to ``python -m dashboard.launch`` (what ``make app`` runs)
stops the Streamlit server, leaving nothing holding the port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.dashboard.apphelpers import ROOT
from tests.support.ports import free_port
from tests.support.wait import wait_until


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/_stcore/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_launcher_stops_the_server(tmp_path: Path, sig: signal.Signals) -> None:
    port = free_port()
    env = {**os.environ, "RESEARCHOPS_DATA_DIR": str(tmp_path), "RESEARCHOPS_METRICS_PORT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.launch", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # so a leftover server can be cleaned up below, not to deliver the signal
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _healthy(url) or proc.poll() is not None, 60, "the dashboard to start")
        assert proc.poll() is None, "the launcher exited before serving"
        proc.send_signal(sig)  # to the launcher's own pid only, as a terminal or `kill` would
        proc.wait(20)
        assert not _healthy(url), "the server outlived its launcher"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
