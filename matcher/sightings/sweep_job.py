"""The ``sweep`` background job (``POST /v1/sweeps``; registered in ``jobs.kinds``).

The upload was stored as a blob before the job was queued; the job sweeps it as the person
who sent it (checked again: a disabled account's queued sweep does not run, and only
reviewers and admins may sweep), then deletes the uploaded blob unless a sighting now keeps
it as its source. Idempotent: a re-run after a crash finds the sightings the first run
committed (one per file and record) and stores nothing twice.
"""

from __future__ import annotations

import datetime as dt

from matcher.errors import ForbiddenError, InputError
from matcher.jobs.queue import Job
from matcher.sightings.needs import SightingServices
from matcher.sightings.service import sides_of
from matcher.store.tables import User
from matcher.types import Role


def _sweeper(services: SightingServices, user_id: int | None) -> tuple[str, str]:
    with services.sessions() as session:
        user = session.get(User, user_id) if user_id is not None else None
        if user is None or user.disabled:
            raise ForbiddenError("The account that sent this work is no longer active.")
        if user.role not in (Role.REVIEWER, Role.ADMIN):
            raise ForbiddenError("Only reviewers and admins can sweep footage.")
        return f"user:{user.name}", user.role  # as Principal.actor writes it


def run_sweep(services: SightingServices, job: Job) -> dict:
    p = job.payload
    actor, role = _sweeper(services, job.owner_id)
    sha = p["blob"]
    if not services.blobs.exists(sha):
        raise InputError("The uploaded file is no longer available; please upload it again.")
    taken_on = dt.date.fromisoformat(p["taken_on"]) if p.get("taken_on") else None
    outcome = services.sightings.sweep(
        services.blobs.get(sha),
        p.get("filename"),
        sides_of(p.get("side", "both")),
        actor,
        role,
        int(p.get("top", 5)),
        taken_on,
        p.get("place"),
    )
    release_upload(services, job)
    result = outcome.as_dict()
    result["probes"] = outcome.probes
    return result


def release_upload(services: SightingServices, job: Job) -> bool:
    """Delete the job's uploaded blob unless a row or another pending job still uses it."""
    return services.jobs.release_blob(job)


def cleanup_sweep(services: SightingServices, job: Job) -> None:
    """After the job failed for good: its upload goes unless something else uses it."""
    release_upload(services, job)
