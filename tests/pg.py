"""A throwaway PostgreSQL server for tests: initdb + pg_ctl on a Unix socket (no TCP)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path


def find_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def unavailable_reason() -> str | None:
    if not (find_bin("initdb") and find_bin("pg_ctl")):
        return "PostgreSQL server binaries (initdb, pg_ctl) are not installed; apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the server as"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg is not installed"
    return None


class Server:
    def __init__(self) -> None:
        # own folder under the system temp dir: pytest's tmp tree is private to root, and
        # as root the server must run as 'postgres' (initdb refuses root)
        self.root = Path(tempfile.mkdtemp(prefix="matcher-pg-"))
        self.data = self.root / "data"
        self.socket = self.root / "sock"
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            self.prefix = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.prefix, *args], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self.socket.mkdir()
        if self.prefix:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.socket, "postgres")
        self._run(find_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "matcher", "--no-sync", "-E", "UTF8")
        opts = f"-k {self.socket} -c listen_addresses='' -c fsync=off -c full_page_writes=off"
        self._run(find_bin("pg_ctl"), "-D", str(self.data), "-o", opts, "-w", "-l", str(self.root / "log"), "start")

    def stop(self) -> None:
        subprocess.run([*self.prefix, find_bin("pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(host=str(self.socket), user="matcher", dbname="postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://matcher@/{name}?host={self.socket}"
