"""/v1/jobs/{id}: status of background work, read from the database (``jobs.queue``), for
the job's creator and admins; anyone else is told it does not exist."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from matcher.api.deps import ServicesDep, require
from matcher.api.responses import EXACT, JobOut
from matcher.types import USER_ROLES, Principal

router = APIRouter(tags=["jobs"])


@router.get("/v1/jobs/{job_id}", response_model=JobOut, **EXACT)
def job_status(svc: ServicesDep, job_id: str, who: Principal = Depends(require(*USER_ROLES))) -> dict:
    return svc.jobs.status(who, job_id)
