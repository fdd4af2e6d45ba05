"""Shelter staff's page (a pointer to the API and the CLI: no forms yet)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from matcher.web.common import SHELTER, render
from matcher.web.cookies import WebSession

router = APIRouter(include_in_schema=False)


@router.get("/shelter")
def shelter_home(request: Request, s: WebSession = Depends(SHELTER)) -> Response:
    return render(request, "shelter.html", s)
