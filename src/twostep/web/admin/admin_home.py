"""The console's home page (``/admin``): the dashboard and, until it is done, the first
administrator's checklist. The numbers come from ``services.admin.dashboard``; the charts' geometry
from ``domain.charts``; the template draws them as SVG with a table beside each (no JavaScript)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from twostep.domain import charts
from twostep.services.admin import dashboard
from twostep.web.admin.admin_gate import AdminPageDep, AdminRoute
from twostep.web.admin.readable import Readable, render

router = APIRouter(prefix="/admin", route_class=AdminRoute)


@router.get("", response_class=HTMLResponse)
def home(page: AdminPageDep) -> Response:
    params = page.request.query_params
    if params.get("q") or params.get("notice"):  # the old address of the user list
        kept = {key: params[key] for key in ("q", "notice") if params.get(key)}
        return page.redirect("/admin/users?" + urlencode(kept))
    board = dashboard.dashboard(page.ctx)
    fmt = Readable(page.language)
    trend = board.enrollment.trend
    trend_chart = charts.line_chart(
        [charts.percent(p.enrolled, p.users) for p in trend], [fmt.day(p.day) for p in trend], maximum=100
    )
    days = board.sign_ins.days
    sign_in_chart = charts.column_chart(
        [[d.successes for d in days], [d.failures for d in days]], [fmt.day(d.day) for d in days], max_labels=6
    )
    method_shares = charts.shares(board.methods)
    return render(
        page,
        "admin/home.html",
        board=board,
        enrolled_percent=charts.percent(board.enrollment.enrolled, board.enrollment.users),
        trend=trend,
        trend_chart=trend_chart,
        sign_in_chart=sign_in_chart,
        method_shares=method_shares,
        percent=charts.percent,
    )
