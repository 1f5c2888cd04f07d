"""A server child process on loopback: started, waited for, ended by its PID."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


class ServerProcess:
    """One peer server process; ``ready`` says when it serves."""

    def __init__(self, name: str, command: list[str], workdir: Path,
                 ready: Callable[[], bool]) -> None:
        self.name = name
        self.command = command
        self.workdir = workdir
        self.ready = ready
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.poll() is None else None

    def start(self, timeout: float = 30.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=self.workdir, stdout=log,
                                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with code {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if self.ready():
                    return
            except Exception:  # not listening yet
                pass
            time.sleep(0.05)
        self.stop()
        raise TimeoutError(f"{self.name} did not serve within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM, then SIGKILL if it does not exit within ``grace`` seconds."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
