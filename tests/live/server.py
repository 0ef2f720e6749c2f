"""A real ``tradebrain serve`` (uvicorn) in a subprocess on a free loopback port, for the service tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

TOKEN = "test-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``tradebrain serve`` (``python -m experiments.cli serve``) on 127.0.0.1; ``url``, ``auth`` headers, ``kill()``,
    ``stop()``."""

    def __init__(self, bundle: Path, store: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.auth = {"Authorization": f"Bearer {TOKEN}"}
        env = {**os.environ, "TRADEBRAIN_TOKEN": TOKEN}
        args = [sys.executable, "-m", "experiments.cli", "serve", "--bundle", str(bundle), "--store", str(store)]
        self.log = open(log, "ab")
        self.proc = subprocess.Popen([*args, "--port", str(self.port)], env=env, stdout=self.log, stderr=self.log)
        self._wait()

    def _wait(self, timeout: float = 90.0) -> None:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/api/learning/health", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server did not answer within {timeout} s")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
