"""A real ``matcher serve`` process for tests that restart or kill it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
MATCHER = [sys.executable, "-m", "matcher"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def environment(data_dir: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MATCHER_")}
    env.update({"MATCHER_DATA_DIR": str(data_dir), "MATCHER_MODELS_DIR": str(ROOT / "models"), "MATCHER_ORT_THREADS": "2"})
    env.update(extra)
    return env


def cli(env: dict, *args: str) -> str:
    done = subprocess.run([*MATCHER, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def make_token(env: dict, name: str, role: str) -> tuple[str, int]:
    """A new user and its token (the CLI prints it on its last line) and the token's id."""
    cli(env, "users", "add", name, "--role", role)
    out = cli(env, "tokens", "create", name).strip().splitlines()
    token_id = int(out[-2].rsplit("id ", 1)[1].rstrip(":"))
    return out[-1].strip(), token_id


class Live:
    def __init__(self, env: dict, log_path: Path, port: int | None = None) -> None:
        self.env = env
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> Live:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([*MATCHER, "serve", "--port", str(self.port)], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"matcher serve exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(self.base + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError("matcher serve did not answer in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")
