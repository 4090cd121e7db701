"""Invitations of an "Invite users" list leave after the answer (services.admin.invitation_queue): the
accounts are created and the invitations queued in the request; the batch's page shows how far they
got and refreshes itself; a mail server that is down stops a run early and the rest wait; a worker
that died mid-send leaves nothing behind; two senders never send one invitation twice."""

from __future__ import annotations

import asyncio
import re
import threading
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from tests.admin.test_admin import ROOT, events, signed_in
from tests.support import PASSWORD, RecordingMail, csrf_of
from twostep.domain.clock import FrozenClock
from twostep.domain.invitations import Invitee
from twostep.services.admin import invitation_queue, users
from twostep.services.admin.admin import Actor
from twostep.services.core.context import Context, RequestInfo
from twostep.services.operations import purge
from twostep.storage.models import QueuedInvitation, User


def people(count: int, start: int = 0) -> list[Invitee]:
    return [Invitee(n, f"person{n}@example.com", f"Person {n}", None, ()) for n in range(start, start + count)]


def admin_actor(ctx: Context) -> Actor:
    with ctx.db.transaction() as db:
        admin_id = db.scalar(select(User.id).where(User.email == ROOT))
    return Actor(id=admin_id, email=ROOT)


def states(ctx: Context, batch: str) -> dict[str, str]:
    with ctx.db.transaction() as db:
        return dict(db.execute(select(QueuedInvitation.email, QueuedInvitation.state)
                               .where(QueuedInvitation.batch == batch)).all())


def invitations_to(mail: RecordingMail) -> list[str]:
    return [m.to for m in mail.sent if "invited" in m.subject]


def test_the_request_only_queues_and_the_page_follows_the_sending_until_it_is_done(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(3), RequestInfo())
    assert invitations_to(mail) == []  # nothing left inside the request
    assert set(states(ctx, report.batch).values()) == {"queued"}
    with ctx.db.transaction() as db:  # listed as invited at once, though its code is not made yet
        assert db.scalar(select(User.invited_at).where(User.email == "person0@example.com")) is not None

    waiting = client.get(f"/admin/users/invite/sent/{report.batch}")
    assert waiting.status_code == 200 and waiting.headers["refresh"] == "3"
    assert "3 invitations are still on their way. This page refreshes itself." in waiting.text
    assert "0 invitations sent." in waiting.text

    assert invitation_queue.send_queued(ctx, batch_name=report.batch) == 3
    assert sorted(invitations_to(mail)) == [f"person{n}@example.com" for n in range(3)]
    done = client.get(f"/admin/users/invite/sent/{report.batch}")
    assert "refresh" not in done.headers and "3 invitations sent." in done.text
    assert "on its way" not in done.text and "on their way" not in done.text
    assert len(events(ctx, "user_invited")) == 3

    code = re.search(r"\b([A-Z0-9]{4}-?[A-Z0-9]{4})\b", mail.last_to("person1@example.com").text)
    assert code, "the invitation carries its code"


def test_the_send_step_answers_with_a_redirect_to_the_batch_page(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    page = client.get("/admin/users/invite")
    sent = client.post("/admin/users/invite", data={
        "step": "send", "csrf_token": csrf_of(page.text), "person_email": ["ann@example.com", "bob@example.com"],
        "person_name": ["Ann", "Bob"], "person_language": ["", ""], "person_roles": ["", ""]},
        follow_redirects=False)
    assert sent.status_code == 303
    batch = sent.headers["location"].rsplit("/", 1)[1]
    assert sent.headers["location"] == f"/admin/users/invite/sent/{batch}"
    assert sorted(invitations_to(mail)) == ["ann@example.com", "bob@example.com"]  # sent after the answer
    assert "2 invitations sent." in client.get(sent.headers["location"]).text
    missing = client.get("/admin/users/invite/sent/0123456789abcdef")
    assert missing.status_code == 404 and "There is no such list of invitations." in missing.text


def test_a_mail_server_that_is_down_stops_a_run_and_the_invitations_wait_then_fail_after_three_tries(
    client: TestClient, ctx: Context, clock: FrozenClock, mail: RecordingMail
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(5), RequestInfo())
    mail.down = True
    assert invitation_queue.send_queued(ctx) == 0
    with ctx.db.transaction() as db:
        attempts = sorted(db.scalars(select(QueuedInvitation.attempts).where(QueuedInvitation.batch == report.batch)))
    assert attempts == [0, 0, 1, 1, 1]  # three failures in a row: the run stopped, two were never tried
    assert invitation_queue.send_queued(ctx) == 0
    with ctx.db.transaction() as db:  # the failed ones wait RETRY_AFTER; the untried ones were tried now
        attempts = sorted(db.scalars(select(QueuedInvitation.attempts).where(QueuedInvitation.batch == report.batch)))
    assert attempts == [1, 1, 1, 1, 1]
    page = client.get(f"/admin/users/invite/sent/{report.batch}")
    assert page.headers["refresh"] == "3" and "5 invitations are still on their way" in page.text

    for _ in range(2):
        clock.advance(seconds=invitation_queue.RETRY_AFTER.total_seconds() + 1)
        invitation_queue.send_queued(ctx)
        invitation_queue.send_queued(ctx)
    assert set(states(ctx, report.batch).values()) == {"failed"}
    assert len(events(ctx, "authn_code_send_fail")) == 5
    page = client.get(f"/admin/users/invite/sent/{report.batch}")
    assert "refresh" not in page.headers and 'id="invite-not-mailed"' in page.text
    assert page.text.count('href="/admin/users/') >= 5

    mail.down = False  # the server is back, but failed rows are final: sending again is the admin's call
    clock.advance(seconds=invitation_queue.RETRY_AFTER.total_seconds() + 1)
    assert invitation_queue.send_queued(ctx) == 0 and invitations_to(mail) == []

    assert "Send these 5 invitations again" in page.text
    forged = client.post(f"/admin/users/invite/sent/{report.batch}/retry", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and set(states(ctx, report.batch).values()) == {"failed"}
    again = client.post(f"/admin/users/invite/sent/{report.batch}/retry", data={"csrf_token": csrf_of(page.text)},
                        follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == f"/admin/users/invite/sent/{report.batch}"
    assert sorted(invitations_to(mail)) == sorted(f"person{n}@example.com" for n in range(5))  # after the answer
    assert set(states(ctx, report.batch).values()) == {"sent"}
    done = client.get(again.headers["location"])
    assert "5 invitations sent." in done.text and 'id="invite-not-mailed"' not in done.text
    [retried] = [e for e in events(ctx, "authz_admin") if '"retry_invitations"' in e.detail]
    assert '"count": 5' in retried.detail


def test_a_row_left_sending_by_a_dead_worker_is_sent_after_its_lease_and_a_live_one_is_left_alone(
    ctx: Context, clock: FrozenClock, mail: RecordingMail, client: TestClient
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(2), RequestInfo())
    with ctx.db.transaction() as db:  # both claimed by a worker that then died
        db.execute(update(QueuedInvitation).where(QueuedInvitation.batch == report.batch)
                   .values(state="sending", claimed_at=clock.now(), attempts=1))
    assert invitation_queue.send_queued(ctx) == 0 and invitations_to(mail) == []  # maybe still at work
    clock.advance(seconds=invitation_queue.LEASE.total_seconds() + 1)
    assert invitation_queue.send_queued(ctx) == 2
    assert sorted(invitations_to(mail)) == ["person0@example.com", "person1@example.com"]


def test_an_account_that_has_a_password_by_the_time_its_turn_comes_gets_no_invitation(
    ctx: Context, clock: FrozenClock, mail: RecordingMail, client: TestClient
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(1), RequestInfo())
    with ctx.db.transaction() as db:
        db.execute(update(User).where(User.email == "person0@example.com").values(password_hash=PASSWORD))
    assert invitation_queue.send_queued(ctx) == 0 and invitations_to(mail) == []
    assert states(ctx, report.batch) == {"person0@example.com": "existing"}


def test_two_senders_at_once_send_every_invitation_exactly_once(
    ctx: Context, clock: FrozenClock, mail: RecordingMail, client: TestClient
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(30), RequestInfo())
    start = threading.Barrier(2)
    totals: list[int] = []

    def sender() -> None:
        start.wait()
        totals.append(invitation_queue.send_queued(ctx, batch_name=report.batch))

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(totals) == 30
    assert sorted(invitations_to(mail)) == sorted(f"person{n}@example.com" for n in range(30))
    assert set(states(ctx, report.batch).values()) == {"sent"}


def test_finished_batches_are_forgotten_after_thirty_days_and_waiting_ones_never(
    ctx: Context, clock: FrozenClock, mail: RecordingMail, client: TestClient
) -> None:
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    sent = users.invite(ctx, admin_actor(ctx), people(2), RequestInfo())
    invitation_queue.send_queued(ctx)
    waiting = users.invite(ctx, admin_actor(ctx), people(1, start=10), RequestInfo())
    clock.advance(seconds=(invitation_queue.KEEP_FOR + timedelta(days=1)).total_seconds())
    assert invitation_queue.forget_finished(ctx) == 2
    assert invitation_queue.batch(ctx, sent.batch) is None
    assert states(ctx, waiting.batch) == {"person10@example.com": "queued"}


def test_every_worker_sends_what_is_still_waiting_on_its_own(
    ctx: Context, clock: FrozenClock, mail: RecordingMail, client: TestClient
) -> None:
    """What the server's lifespan runs every TWOSTEP_PURGE_INTERVAL_SECONDS: invitations left waiting
    (a mail server that was down) leave without anyone asking."""
    signed_in(client, ctx, clock, ROOT, is_admin=True)
    report = users.invite(ctx, admin_actor(ctx), people(2), RequestInfo())

    async def a_while() -> None:
        task = asyncio.create_task(purge.run_periodically(ctx, 0.05, invitation_queue.send_queued))
        for _ in range(200):
            await asyncio.sleep(0.05)
            if len(invitations_to(mail)) == 2:
                break
        task.cancel()

    # A thread of its own: a browser test before this one may leave Playwright's loop on this thread.
    runner = threading.Thread(target=asyncio.run, args=(a_while(),))
    runner.start()
    runner.join(30)
    assert set(states(ctx, report.batch).values()) == {"sent"}
