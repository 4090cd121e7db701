"""The console's users: the list (search, filters, keyset pages), "Add user", "Invite users" (paste or
upload; checked first, then sent), resending an invitation, and bulk actions behind a confirmation
page. Thin: every rule is in ``services.admin.users`` / ``user_list``; every route is behind the one
console gate (``web/admin/admin_gate.py``).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import APIRouter, BackgroundTasks, File, Form, UploadFile
from fastapi.responses import HTMLResponse, Response

from twostep.domain import invitations
from twostep.domain.invitations import Invitee
from twostep.domain.rollout import METHODS
from twostep.services.admin import invitation_queue, user_list, users
from twostep.services.admin.admin import AdminError
from twostep.services.admin.user_list import UserQuery
from twostep.web.admin.admin import render_user
from twostep.web.admin.admin_gate import ActorDep, AdminPageDep, AdminRoute, returns_to
from twostep.web.admin.readable import render
from twostep.web.core import messages
from twostep.web.core.pages import Page

router = APIRouter(prefix="/admin", route_class=AdminRoute)
Text = Annotated[str, Form(max_length=400)]
LongText = Annotated[str, Form(max_length=200_000)]
Many = Annotated[list[str], Form(max_length=400)]

TEXT = messages.USERS_TEXT
LINE_TEXT = messages.INVITE_LINE_TEXT
NOTICES = messages.USERS_NOTICES
ADMIN_TEXT = messages.ADMIN_TEXT


def _csrf_refused(page: Page) -> Response:
    return page.render("message.html", status_code=400, title=page.gettext("Not allowed"), error=page.message("csrf"))


def _say(page: Page, error: AdminError) -> str:
    text = TEXT.get(error.code) or ADMIN_TEXT.get(error.code) or error.code
    return page.message(text, **getattr(error, "params", {}))


@router.get("/users/invite/sent/{batch_name}", response_class=HTMLResponse)
def invite_sent(page: AdminPageDep, batch_name: str) -> Response:
    """How far a list's invitations got; refreshes itself while some are still waiting."""
    found = invitation_queue.batch(page.ctx, batch_name) if len(batch_name) <= 32 else None
    if found is None:
        return page.render("message.html", status_code=404, title=page.gettext("Page not found"),
                           error=page.message(TEXT["batch_not_found"]))
    response = render(page, "admin/invite_done.html", batch=found, batch_name=batch_name,
                      refusal=lambda code: _line_text(page, code))
    if found.waiting:
        response.headers["Refresh"] = str(REFRESH_SECONDS)
    return response


REFRESH_SECONDS = 3


@router.post("/users/invite/sent/{batch_name}/retry", response_class=HTMLResponse)
def invite_retry(
    page: AdminPageDep, actor: ActorDep, batch_name: str, background: BackgroundTasks, csrf_token: Text = ""
) -> Response:
    """"Send these again": the list's failed invitations back in the queue, sent after the answer."""
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    if invitation_queue.retry_failed(page.ctx, batch_name[:32], actor, page.info):
        background.add_task(invitation_queue.send_queued, page.ctx, batch_name=batch_name, request=page.info)
    return page.redirect(f"/admin/users/invite/sent/{quote(batch_name[:32], safe='')}")


# --- the list ----------------------------------------------------------------------------------


def _list_link(query: UserQuery, **extra: str) -> str:
    values = {"q": query.q, "role": query.role, "method": query.method, "status": query.status, **extra}
    encoded = urlencode({key: value for key, value in values.items() if value})
    return "/admin/users" + ("?" + encoded if encoded else "")


@router.get("/users", response_class=HTMLResponse)
def user_list_page(
    page: AdminPageDep,
    q: str = "",
    role: str = "",
    method: str = "",
    status: str = "",
    after: str = "",
    before: str = "",
) -> Response:
    listing = user_list.list_users(
        page.ctx, UserQuery(q=q, role=role, method=method, status=status, after=after, before=before)
    )
    query = listing.query
    notice = NOTICES.get(page.request.query_params.get("notice", "")) or messages.ADMIN_NOTICES.get(
        page.request.query_params.get("notice", ""), ""
    )
    return render(
        page,
        "admin/users.html",
        listing=listing,
        methods=METHODS,
        statuses=user_list.STATUSES,
        notice=page.gettext(notice) if notice else "",
        first_link=_list_link(query) if (query.after or query.before) else "",
        next_link=_list_link(query, after=listing.next_after) if listing.next_after else "",
        previous_link=_list_link(query, before=listing.previous_before) if listing.previous_before else "",
        clear_link="/admin/users" if query.filtered else "",
    )


# --- add one -----------------------------------------------------------------------------------


def _add_form(page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, **values: str) -> Response:
    form = {"email": "", "name": "", "language": "", "roles": "", **values}
    return render(
        page, "admin/user_new.html", status_code=status_code, errors=errors or {}, form=form
    )


@router.get("/users/new", response_class=HTMLResponse)
def add_user_form(page: AdminPageDep) -> Response:
    return _add_form(page)


@router.post("/users/new", response_class=HTMLResponse)
def add_user(
    page: AdminPageDep,
    actor: ActorDep,
    email: Text = "",
    name: Text = "",
    language: Text = "",
    roles: Text = "",
    csrf_token: Text = "",
) -> Response:
    values = {"email": email, "name": name, "language": language, "roles": roles}
    if not page.csrf_ok(csrf_token):
        return _add_form(page, status_code=400, errors={"form": page.message("csrf")}, **values)
    try:
        person = users.check_person(email, name, language, roles)
        added = users.add_user(page.ctx, actor, person, page.info)
    except AdminError as error:
        return _add_form(page, status_code=422, errors={error.field or "form": _say(page, error)}, **values)
    return page.redirect(f"/admin/users/{added.id}?notice={'invited' if added.mailed else 'invite_failed'}")


# --- invite many -------------------------------------------------------------------------------


def _invite_form(
    page: Page, *, status_code: int = 200, errors: dict[str, str] | None = None, people: str = ""
) -> Response:
    return render(page, "admin/invite.html", status_code=status_code, errors=errors or {}, people=people)


@router.get("/users/invite", response_class=HTMLResponse)
def invite_form(page: AdminPageDep) -> Response:
    return _invite_form(page)


def _line_text(page: Page, code: str) -> str:
    return page.gettext(LINE_TEXT.get(code) or code)


def _refusal_text(page: Page, refused: invitations.Refused) -> str:
    text = page.gettext(LINE_TEXT.get(refused.reason, refused.reason))
    try:
        return text % {"line": refused.other_line, "detail": refused.detail}
    except (KeyError, ValueError, TypeError):
        return text


#: The largest invitation file read: 600 bytes a person is far more than any row needs.
MAX_INVITATION_FILE = invitations.MAX_PEOPLE * 600


class FileTooLarge(Exception):
    pass


async def _upload_text(upload: UploadFile | None) -> str | None:
    """The chosen file as text ("" when none was chosen), None when it is not UTF-8; FileTooLarge
    rather than reading only its beginning (the rest of the list would be dropped unseen)."""
    if upload is None or not upload.filename:
        return ""
    raw = await upload.read(MAX_INVITATION_FILE + 1)
    if len(raw) > MAX_INVITATION_FILE:
        raise FileTooLarge
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def _people_from_form(
    emails: list[str], names: list[str], languages: list[str], roles: list[str]
) -> tuple[list[Invitee], int]:
    """The checked list the confirmation form sent back, checked again (it came from the browser)."""
    people: list[Invitee] = []
    dropped = 0
    for index, email in enumerate(emails[: invitations.MAX_PEOPLE]):
        try:
            person = users.check_person(
                email,
                names[index] if index < len(names) else "",
                languages[index] if index < len(languages) else "",
                (roles[index] if index < len(roles) else "").replace(";", ","),
            )
        except AdminError:
            dropped += 1
            continue
        people.append(person)
    return people, dropped


@router.post("/users/invite", response_class=HTMLResponse)
async def invite(
    page: AdminPageDep,
    actor: ActorDep,
    people: LongText = "",
    file: Annotated[UploadFile | None, File()] = None,
    step: Text = "check",
    person_email: Many = [],  # noqa: B006 - FastAPI reads the default, never mutates it
    person_name: Many = [],  # noqa: B006
    person_language: Many = [],  # noqa: B006
    person_roles: Many = [],  # noqa: B006
    csrf_token: Text = "",
    *,
    background: BackgroundTasks,
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _invite_form(page, status_code=400, errors={"form": page.message("csrf")}, people=people)
    if step == "send":
        chosen, _ = _people_from_form(person_email, person_name, person_language, person_roles)
        if not chosen:
            return _invite_form(page, status_code=422, errors={"people": page.message(TEXT["people_missing"])})
        report = users.invite(page.ctx, actor, chosen, page.info)
        background.add_task(invitation_queue.send_queued, page.ctx, batch_name=report.batch, request=page.info)
        return page.redirect(f"/admin/users/invite/sent/{report.batch}")
    try:
        uploaded = await _upload_text(file)
    except FileTooLarge:
        too_large = page.message(TEXT["file_too_large"], size=MAX_INVITATION_FILE // 1000,
                                 people=invitations.MAX_PEOPLE)
        return _invite_form(page, status_code=422, errors={"file": too_large}, people=people)
    if uploaded is None:
        return _invite_form(
            page, status_code=422, errors={"file": page.message(TEXT["file_unreadable"])}, people=people
        )
    text = "\n".join(part for part in (people, uploaded) if part.strip())
    if not text.strip():
        return _invite_form(page, status_code=422, errors={"people": page.message(TEXT["people_missing"])})
    parsed = invitations.parse(text)
    existing = users.existing_emails(page.ctx, [person.email for person in parsed.people])
    new = [person for person in parsed.people if person.email not in existing]
    refused = [(r.line, r.text, _refusal_text(page, r)) for r in parsed.refused]
    return render(
        page,
        "admin/invite_check.html",
        status_code=200 if new else 422,
        new=new,
        existing=sorted(existing.items()),
        refused=refused,
        people=text,
        errors={} if new else {"people": page.message(TEXT["nobody"])},
    )


@router.post("/users/{user_id}/invite", response_class=HTMLResponse)
@returns_to("/admin/users/{user_id}")
def resend_invitation(page: AdminPageDep, actor: ActorDep, user_id: str, csrf_token: Text = "") -> Response:
    back = f"/admin/users/{quote(user_id)}"
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    if not (user_id.isdigit() and len(user_id) < 12):
        return page.redirect(back)
    try:
        mailed = users.resend_invitation(page.ctx, actor, int(user_id), page.info)
    except AdminError as error:
        status = 404 if error.code == "not_found" else 422
        return render_user(page, actor, user_id, status_code=status, errors={"form": _say(page, error)})
    return page.redirect(f"{back}?notice={'invitation_resent' if mailed else 'invite_failed'}")


# --- many at once ------------------------------------------------------------------------------


def _bulk_page(
    page: Page,
    action: str,
    ids: list[int],
    *,
    status_code: int = 200,
    errors: dict[str, str] | None = None,
    reason: str = "",
) -> Response:
    chosen = users.targets(page.ctx, ids)
    return render(
        page,
        "admin/bulk_confirm.html",
        status_code=status_code,
        action=action,
        targets=chosen,
        errors=errors or {},
        reason=reason,
    )


@router.get("/users/bulk", response_class=HTMLResponse)
def bulk_reloaded(page: AdminPageDep) -> Response:
    """The confirmation page is a POST's answer; reloading its address goes back to the list (and
    keeps ``/admin/users/{user_id}`` from reading "bulk" as a user)."""
    return page.redirect("/admin/users")


@router.post("/users/bulk", response_class=HTMLResponse)
@returns_to("/admin/users")
def bulk_confirm(
    page: AdminPageDep,
    ids: Many = [],  # noqa: B006
    action: Text = "",
    csrf_token: Text = "",
) -> Response:
    """The confirmation page: which accounts, what will happen; nothing is changed yet."""
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    chosen = users.parse_ids(ids)
    if action not in users.BULK_ACTIONS:
        return _bulk_error(page, "bulk_action")
    if not users.targets(page.ctx, chosen):
        return _bulk_error(page, "bulk_none")
    return _bulk_page(page, action, chosen)


def _bulk_error(page: Page, code: str) -> Response:
    return render(
        page,
        "admin/notice.html",
        status_code=422,
        title=page.gettext("Nothing was changed"),
        error=page.message(TEXT[code]),
        back="/admin/users",
    )


@router.post("/users/bulk/apply", response_class=HTMLResponse)
@returns_to("/admin/users")
def bulk_apply(
    page: AdminPageDep,
    actor: ActorDep,
    ids: Many = [],  # noqa: B006
    action: Text = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    confirm: Text = "",
    csrf_token: Text = "",
) -> Response:
    if not page.csrf_ok(csrf_token):
        return _csrf_refused(page)
    chosen = users.parse_ids(ids)
    try:
        report = users.apply_bulk(page.ctx, actor, action, chosen, page.info, reason=reason, confirm=confirm)
    except AdminError as error:
        if error.code in ("bulk_action", "bulk_none"):
            return _bulk_error(page, error.code)
        return _bulk_page(
            page, action, chosen, status_code=422, errors={error.field or "form": _say(page, error)}, reason=reason
        )
    refusals = [(email, page.message(ADMIN_TEXT.get(code) or TEXT.get(code) or code)) for email, code in report.refused]
    return render(page, "admin/bulk_done.html", report=report, refusals=refusals)
