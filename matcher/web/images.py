"""Face crops and photos for the pages, under the same permission rules as ``/v1`` (a family
sees its own uploads only; views by reviewers and admins are audited by ``RecordService``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from matcher.api.deps import Id, ServicesDep
from matcher.web.common import IMG_HEADERS, signed_in
from matcher.web.cookies import WebSession

router = APIRouter(include_in_schema=False)


@router.get("/img/faces/{face_id}")
def face_crop(svc: ServicesDep, face_id: Id, s: WebSession = Depends(signed_in)) -> Response:
    return Response(svc.records.crop(s.principal, face_id), media_type="image/jpeg", headers=IMG_HEADERS)


@router.get("/img/media/{media_id}")
def media_image(svc: ServicesDep, media_id: Id, s: WebSession = Depends(signed_in)) -> Response:
    data = svc.records.image(s.principal, media_id)
    return Response(data, media_type="image/png" if data[:4] == b"\x89PNG" else "image/jpeg", headers=IMG_HEADERS)
