#!/usr/bin/env python3
"""How long "Invite users" keeps the administrator waiting, and how fast the invitations then leave:
``users.invite`` for N people on a fresh SQLite database, mail over real SMTP (aiosmtpd on loopback),
then ``invitation_queue.send_queued``.

    PYTHONPATH=src:. .venv/bin/python bench/invite_list.py 500
    PYTHONPATH=/tmp/before/src:. .venv/bin/python bench/invite_list.py 500   # an older tree (sent inside)

With a tree from before the queue (``git worktree add /tmp/before fa22cae``) the first line is the whole
cost of the request, mails included; with the queue, the request and the sending are timed apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from tests.real_servers import free_port

from twostep.domain.invitations import Invitee
from twostep.services.admin import users
from twostep.services.admin.admin import CLI
from twostep.services.core.context import RequestInfo
from twostep.services.wiring import build_context
from twostep.settings import load_settings


class Inbox:
    received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        Inbox.received += 1
        return "250 OK"


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    port = free_port()
    smtp = Controller(Inbox(), hostname="127.0.0.1", port=port)
    smtp.start()
    data = Path(tempfile.mkdtemp(prefix="twostep-bench-invite-"))
    url = f"sqlite:///{data}/twostep.db"
    subprocess.run([sys.executable, "-m", "twostep.cli", "migrate"], check=True, capture_output=True,
                   env=os.environ | {"TWOSTEP_DATA_DIR": str(data), "TWOSTEP_DATABASE_URL": url})
    ctx = build_context(load_settings(data_dir=data, database_url=url, smtp_url=f"smtp://127.0.0.1:{port}"))
    people = [Invitee(n, f"person{n}@example.test", f"Person {n}", "en", ()) for n in range(count)]
    try:
        started = time.perf_counter()
        report = users.invite(ctx, CLI, people, RequestInfo())
        request = time.perf_counter() - started
        print(f"{count} people: the request took {request:.2f} s ({request / count * 1000:.1f} ms each); "
              f"mails received meanwhile: {Inbox.received}")
        try:
            from twostep.services.admin import invitation_queue
        except ImportError:  # an older tree: everything happened in the request
            return
        started = time.perf_counter()
        sent = invitation_queue.send_queued(ctx, batch_name=report.batch)
        sending = time.perf_counter() - started
        print(f"then sending: {sending:.2f} s ({sending / count * 1000:.1f} ms each), {sent} sent, "
              f"{Inbox.received} received")
    finally:
        smtp.stop()
        ctx.db.dispose()


if __name__ == "__main__":
    main()
