"""Running the web server: uvicorn, one process or several.

With several worker processes uvicorn shares one listening socket between them, and whichever
process wakes first accepts: under keep-alive traffic one worker can end up with nearly every
connection while the others idle (measured: 16 benchmark connections, one worker at 90 % of a
core, the other idle). On Linux each worker here gets its own socket bound with SO_REUSEPORT,
so the kernel spreads new connections over the workers evenly. Elsewhere the shared socket is
kept.
"""

from __future__ import annotations

import socket
import sys

import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess, Process

APP = "kassa.asgi:application"


def reuse_port_supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind_reuse_port(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


class ReusePortSupervisor(Multiprocess):
    """uvicorn's supervisor (signals, health checks, restarts) with a socket per worker."""

    def __init__(self, config: uvicorn.Config, worker_sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self.worker_sockets = worker_sockets

    def _process(self, index: int) -> Process:
        process = Process(self.config, [self.worker_sockets[index]])
        process.start()
        return process

    def init_processes(self) -> None:
        self.processes = [self._process(i) for i in range(self.processes_num)]

    def restart_all(self) -> None:
        for index, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._process(index)
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                return
            old.terminate()
            old.join()
            self.processes[index] = new

    def keep_subprocess_alive(self) -> None:
        if self.should_exit.is_set():
            return
        for index, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if self.should_exit.is_set():
                return
            self.processes[index] = self._process(index)


def serve(host: str, port: int, workers: int) -> None:
    """Serve Kassa until SIGINT or SIGTERM."""
    config = uvicorn.Config(
        APP,
        host=host,
        port=port,
        workers=workers,
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    if workers <= 1:
        uvicorn.Server(config).run()
        return
    if reuse_port_supported():
        sockets = [bind_reuse_port(host, port) for _ in range(workers)]
    else:
        sockets = [config.bind_socket()] * workers
    try:
        ReusePortSupervisor(config, sockets).run()
    finally:
        for sock in set(sockets):
            sock.close()
