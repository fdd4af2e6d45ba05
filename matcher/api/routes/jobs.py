"""/v1/jobs/{id}: status of background work, for its owner (and admins)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from matcher.api.deps import get_services, require
from matcher.services.accounts import Principal
from matcher.errors import NotFoundError
from matcher.services.container import Services
from matcher.types import USER_ROLES, Role

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}")
def job_status(job_id: str, who: Principal = Depends(require(*USER_ROLES)), svc: Services = Depends(get_services)) -> dict:
    job = svc.jobs.get(job_id)
    if job is None or (job.owner_id != who.user_id and who.role != Role.ADMIN):
        raise NotFoundError(f"no job {job_id}")
    return {"id": job.id, "kind": job.kind, "status": job.status, "result": job.result, "error": job.error}
