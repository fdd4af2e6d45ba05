"""/v1/jobs/{id}: status of background work, read from the database (``services.jobs``), for
the job's creator and admins; anyone else is told it does not exist."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from matcher.api.deps import get_services, require
from matcher.container import Services
from matcher.types import USER_ROLES, Principal

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}")
def job_status(job_id: str, who: Principal = Depends(require(*USER_ROLES)), svc: Services = Depends(get_services)) -> dict:
    return svc.jobs.status(who, job_id)
