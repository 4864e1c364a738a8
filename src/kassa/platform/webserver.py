"""Running the web server: uvicorn through its public API, one process or several.

One process: `uvicorn.Server(config).run()`. Several: Kassa starts the worker processes itself
(multiprocessing, spawned) and each runs `uvicorn.Server(config).run(sockets=[its socket])`;
this module supervises them (a worker that dies is started again, SIGINT or SIGTERM stops them
all). Nothing here subclasses or calls uvicorn's private supervisors, so a uvicorn upgrade can
only break what its documented API promises (docs/upgrading.md).

With several workers uvicorn would share one listening socket between them, and whichever
process wakes first accepts: under keep-alive traffic one worker can end up with nearly every
connection while the others idle (measured: 16 benchmark connections, one worker at 90 % of a
core, the other idle). On Linux each worker here gets its own socket bound with SO_REUSEPORT,
so the kernel spreads new connections over the workers evenly. Elsewhere one socket is shared.

Forwarding headers: uvicorn believes X-Forwarded-For and X-Forwarded-Proto from 127.0.0.1 unless
told otherwise, and the client address it takes from them becomes REMOTE_ADDR, which the pay
pages' limits, the admin sign-in lockout and the audit log count by. Here they are believed only
from the proxies given (`KASSA_TRUSTED_PROXIES`, `kassa serve --trusted-proxies`); with none,
proxy header handling is off and the connecting address is the client's.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

import uvicorn

APP = "kassa.asgi:application"
GRACEFUL_SECONDS = 5
# A worker that dies sooner than this after its start is restarted only after a pause that
# grows (up to RESTART_PAUSE_MAX), so a worker that cannot start does not spin the CPU.
HEALTHY_AFTER = 10.0
RESTART_PAUSE_MAX = 10.0

logger = logging.getLogger("kassa.webserver")


def config_options(host: str, port: int, trusted_proxies: Sequence[str] = ()) -> dict[str, Any]:
    return {
        "host": host,
        "port": port,
        # Both set explicitly: uvicorn's defaults (on, trusting 127.0.0.1 or the
        # FORWARDED_ALLOW_IPS environment variable) would let anything connecting through the
        # loopback choose its own address.
        "proxy_headers": bool(trusted_proxies),
        "forwarded_allow_ips": list(trusted_proxies),
        "lifespan": "off",
        "log_level": "warning",
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }


def reuse_port_supported() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(host: str, port: int, workers: int, trusted_proxies: Sequence[str] = ()) -> None:
    """Serve Kassa until SIGINT or SIGTERM."""
    options = config_options(host, port, trusted_proxies)
    if workers <= 1:
        uvicorn.Server(uvicorn.Config(APP, **options)).run()
        return
    reuse = reuse_port_supported()
    sockets = [bind(host, port, reuse_port=True) for _ in range(workers)] if reuse else []
    if not reuse:
        sockets = [bind(host, port, reuse_port=False)] * workers
    try:
        Supervisor(sockets, options).run()
    finally:
        for sock in set(sockets):
            sock.close()


def _worker_main(sock: socket.socket, options: dict[str, Any]) -> None:
    """A worker process: uvicorn on the socket it was given (it handles SIGINT and SIGTERM
    itself, finishing the requests under way)."""
    uvicorn.Server(uvicorn.Config(APP, **options)).run(sockets=[sock])


@dataclass
class _Worker:
    index: int
    process: BaseProcess
    started: float = field(default_factory=time.monotonic)
    failures: int = 0  # deaths in a row soon after starting


class Supervisor:
    """Starts one uvicorn process per socket, restarts those that die, stops them all on
    SIGINT or SIGTERM (each finishes its requests under way, then is killed if it must)."""

    def __init__(self, sockets: list[socket.socket], options: dict[str, Any]) -> None:
        self.sockets = sockets
        self.options = options
        self.context = multiprocessing.get_context("spawn")
        self.stop = threading.Event()
        self.workers: list[_Worker] = []

    def _start(self, index: int, failures: int = 0) -> _Worker:
        process = self.context.Process(
            target=_worker_main,
            args=(self.sockets[index], self.options),
            name=f"kassa-web-{index}",
            daemon=False,
        )
        process.start()
        return _Worker(index, process, failures=failures)

    def _signalled(self, signum: int, frame: Any) -> None:
        self.stop.set()

    def run(self) -> None:
        previous = {
            signum: signal.signal(signum, self._signalled)
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.workers = [self._start(i) for i in range(len(self.sockets))]
            while not self.stop.wait(0.5):
                self._keep_alive()
        finally:
            self._shutdown()
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def _keep_alive(self) -> None:
        now = time.monotonic()
        for position, worker in enumerate(self.workers):
            if worker.process.is_alive():
                if worker.failures and now - worker.started > HEALTHY_AFTER:
                    worker.failures = 0
                continue
            worker.process.join()
            failures = worker.failures + 1 if now - worker.started < HEALTHY_AFTER else 0
            pause = min(RESTART_PAUSE_MAX, 0.5 * 2**failures) if failures else 0.0
            logger.warning(
                "web worker %d exited with code %s; starting it again in %.1f s",
                worker.index,
                worker.process.exitcode,
                pause,
            )
            if pause and self.stop.wait(pause):
                return
            self.workers[position] = self._start(worker.index, failures)

    def _shutdown(self) -> None:
        for worker in self.workers:
            if worker.process.is_alive():
                worker.process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + GRACEFUL_SECONDS + 5
        for worker in self.workers:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
