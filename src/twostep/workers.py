"""``twostep serve --workers N``: N uvicorn processes, each accepting on its own listening socket.

uvicorn's own supervisor hands every worker one shared socket, and whichever worker wakes first takes
the next connection. Clients with long-lived keep-alive connections (a load balancer, a benchmark)
then often land mostly on one worker while the other idles: measured on the verification API with 16
connections and 2 workers, some runs answered with 96 % of two cores' worth of CPU in use, half the
throughput of a balanced run. Here each worker gets a socket of its own bound to the same port with
``SO_REUSEPORT``, and the kernel spreads new connections over them by address hash. The parent keeps
the sockets open: a worker that dies is started again on its socket, and connections that arrived in
the meantime wait in its backlog instead of being refused.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.context import SpawnProcess
from types import FrameType
from typing import Any

log = logging.getLogger("twostep")

BACKLOG = 2048
SHUTDOWN_GRACE_SECONDS = 20


def listening_socket(host: str, port: int) -> socket.socket:
    """A listening socket that other sockets of this user may share the port with (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(BACKLOG)
    sock.set_inheritable(True)
    return sock


def _run_worker(config_kwargs: dict[str, Any], sock: socket.socket) -> None:
    import uvicorn

    config = uvicorn.Config(**config_kwargs)
    uvicorn.Server(config).run(sockets=[sock])


class Supervisor:
    """Starts the workers, starts again any that dies, and stops them all on SIGINT or SIGTERM."""

    def __init__(self, config_kwargs: dict[str, Any], host: str, port: int, workers: int) -> None:
        self.config_kwargs = config_kwargs
        self.sockets = [listening_socket(host, port) for _ in range(workers)]
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[SpawnProcess | None] = [None] * workers
        self.stopping = False

    def _start(self, index: int) -> None:
        process = self.context.Process(
            target=_run_worker, args=(self.config_kwargs, self.sockets[index]), name=f"twostep-worker-{index}"
        )
        process.start()
        self.processes[index] = process

    def _stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def run(self) -> None:
        signal.signal(signal.SIGINT, self._stop)
        signal.signal(signal.SIGTERM, self._stop)
        for index in range(len(self.sockets)):
            self._start(index)
        while not self.stopping:
            time.sleep(0.2)
            for index, process in enumerate(self.processes):
                if process is not None and not process.is_alive() and not self.stopping:
                    log.warning("worker %s exited with %s; starting it again", index, process.exitcode)
                    self._start(index)
        self.shutdown()

    def shutdown(self) -> None:
        live = [p for p in self.processes if p is not None and p.is_alive()]
        for process in live:
            process.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for process in live:
            process.join(max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
        for sock in self.sockets:
            sock.close()
