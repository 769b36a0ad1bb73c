"""The app starts, shows the data set in use, and serves on localhost."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _app(monkeypatch, data_root):
    monkeypatch.setenv("ASD_DATA", str(data_root))
    monkeypatch.chdir(PROJECT_ROOT)
    return AppTest.from_file(str(PROJECT_ROOT / "app.py"), default_timeout=60)


def test_home_shows_the_dataset_summary(monkeypatch, tiny_toy_root):
    from asdcore.data import scan_dataset

    n_clips = len(scan_dataset(tiny_toy_root).records)
    at = _app(monkeypatch, tiny_toy_root).run()
    assert not at.exception
    assert "anomalous sound detection" in at.title[0].value.lower()
    assert any(f"{n_clips} clips" in m.value for m in at.markdown)
    table = at.table[0].value
    assert len(table) == 12 and set(table["machine_type"]) == {"fan", "pump", "slider", "valve", "ToyCar",
                                                                "ToyConveyor"}


def test_home_says_what_to_do_without_data(monkeypatch, tmp_path):
    at = _app(monkeypatch, tmp_path / "nothing-here").run()
    assert not at.exception
    assert "make data" in at.warning[0].value


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamlit_serves_on_localhost_and_answers_health(tiny_toy_root):
    port = _free_port()
    env = dict(os.environ, ASD_DATA=str(tiny_toy_root))
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 60
        body = None
        while time.time() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read()
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"streamlit exited: {proc.stdout.read()}")
                time.sleep(0.5)
        assert body == b"ok"
        # bound to loopback only (the project's .streamlit/config.toml): every listening socket of
        # the server is on 127.0.0.1
        import psutil

        listening = [c.laddr for c in psutil.Process(proc.pid).net_connections(kind="tcp")
                     if c.status == psutil.CONN_LISTEN]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
    finally:
        proc.terminate()
        proc.wait(10)
