"""Shelter archives uploaded as a ZIP (the shelter workspace's import, and ``POST /v1/children/import/zip``).

``submit_zip`` checks the ZIP at once (``ingest.zip_archive``: not a ZIP, encrypted, too big,
a bomb: a 4xx, nothing stored), stores its bytes as a sealed blob (content-addressed, before
the row that points at it) and queues an ``archive_upload`` job. The job (``run``, through
``jobs.kinds``) lists the ZIP again, imports its photos and videos as children with
the batch indexer (files already stored are skipped, so a re-run after a crash stores
nothing twice; children it creates belong to the uploader), reports progress for a progress
bar, matches the children that got new faces, deletes the ZIP's blob unless something else
needs it, and ends with the counts and the problem rows. ``problems_csv`` turns those rows
into the report the uploader downloads.
"""

from __future__ import annotations

import csv
import io
from functools import partial
from typing import Protocol

from matcher.errors import ConflictError, EmptyFileError, ForbiddenError, InputError, NotFoundError
from matcher.ingest.batch import BatchServices
from matcher.ingest.indexer import ArchiveIndexer, IndexSummary
from matcher.ingest.zip_archive import Problem, ZipLimits, scan_zip
from matcher.jobs.queue import Job, JobService
from matcher.store import repo
from matcher.store.blobs import BlobStore
from matcher.store.tables import utcnow
from matcher.types import JobStatus, Principal, Role, Side

KIND = "archive_upload"
IMPORT_ROLES = (Role.SHELTER, Role.ADMIN)
PROBLEM_CAP = 5000  # rows kept in the job's result; the rest are counted
REPORT_COLUMNS = ("file", "record", "problem", "message")
SPREADSHEET_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")  # a cell starting so is a formula to a spreadsheet
MESSAGES = {  # the indexer's messages where a person at a web page needs other words
    "erased_record": "this photo belonged to a child's record that was erased; it is not imported again unless an admin asks",
    "no_face": "no face found: the file is stored with the child's record, but cannot be matched",
}
SUMMARY_KEYS = ("photos", "new_media", "faces", "records", "skipped", "failed", "no_face", "seconds")


class ImportServices(BatchServices, Protocol):
    """What a ZIP import uses of the wiring: the batch indexer and matching, blobs, the queue."""

    @property
    def blobs(self) -> BlobStore: ...
    @property
    def jobs(self) -> JobService: ...


class ImportService:
    def __init__(self, services: ImportServices) -> None:
        self.services = services

    @property
    def limits(self) -> ZipLimits:
        return ZipLimits.from_settings(self.services.settings)

    # ---- the upload ----
    def submit_zip(self, who: Principal, data: bytes, filename: str | None) -> Job:
        """Check the ZIP, store it sealed, queue its import. Raises before anything is stored
        for a wrong role, a file that is not a usable ZIP, or a ZIP with nothing to import."""
        if who.role not in IMPORT_ROLES:
            raise ForbiddenError("Only shelter staff and admins can import archives.")
        if not data:
            raise EmptyFileError("The uploaded file is empty.")
        items, problems = scan_zip(data, self.limits)
        if not items:
            raise InputError(_nothing_to_import(problems))
        blobs = self.services.blobs
        sha = blobs.put(data)  # before the row that points at it (invariant 2, docs/architecture.md)
        payload = {"blob": sha, "filename": (filename or "")[:255] or None, "bytes": len(data), "files": len(items)}
        job = self.services.jobs.submit(KIND, who.user_id, payload)
        if not blobs.exists(sha):  # the same ZIP's earlier job ended between the put and the row, and released it
            blobs.put(data)
        with self.services.sessions.begin() as session:
            repo.audit(session, who.actor, who.role, "archive_upload", "job", job.id, bytes=len(data), files=len(items))
        return job

    # ---- the job ----
    def run(self, who: Principal, job: Job) -> dict:
        """Import the job's ZIP as children (``who``: the uploader, checked again by the caller)."""
        if who.role not in IMPORT_ROLES:
            raise ForbiddenError("Only shelter staff and admins can import archives.")
        svc = self.services
        sha = job.payload["blob"]
        if not svc.blobs.exists(sha):
            raise InputError("The uploaded archive is no longer available; please upload it again.")
        items, ignored = scan_zip(svc.blobs.get(sha), self.limits)
        total = len(items)
        progress = partial(svc.jobs.set_progress, job.id)
        progress(0, total, "checking")
        started = utcnow()

        def analysed(done: int, todo: int) -> None:  # the indexer counts the files it has to do; the bar counts them all
            progress(total - todo + done, total, "analysing")

        indexer = ArchiveIndexer(svc, Side.CHILD, actor=who.actor, role=who.role, owner_id=who.user_id, write_report=False)
        summary = indexer.run(items, analysed)
        progress(total, total, "matching")
        touched = svc.match_records(svc.records_with_media_since(Side.CHILD, started))
        del items  # they hold the ZIP's bytes
        self.release(job)
        progress(total, total, "done")
        return _result(summary, touched, ignored)

    def release(self, job: Job) -> bool:
        """Delete the job's ZIP blob unless a stored row or another queued or running job
        uses it (the same ZIP uploaded twice). True when it was deleted."""
        return self.services.jobs.release_blob(job)

    # ---- the report ----
    def problems_csv(self, who: Principal, job_id: str) -> bytes:
        """The problem rows of an archive import (``file,record,problem,message``), for the
        account that uploaded it and admins; anyone else is told it does not exist."""
        job = self.services.jobs.get(job_id)
        if job is None or job.kind != KIND or (job.owner_id != who.user_id and who.role != Role.ADMIN):
            raise NotFoundError(f"no import {job_id}")
        if job.status not in (JobStatus.DONE, JobStatus.FAILED):
            raise ConflictError("The import has not finished yet; its report is ready when it ends.")
        if job.status == JobStatus.FAILED:
            rows = [{"file": "", "record": "", "problem": (job.error or {}).get("code", "failed"), "message": (job.error or {}).get("message", "")}]
        else:
            rows = list((job.result or {}).get("problems", ()))
            more = (job.result or {}).get("problems_more", 0)
            if more:
                rows.append({"file": "", "record": "", "problem": "more_problems", "message": f"{more} more problem(s) not listed"})
        with self.services.sessions.begin() as session:
            repo.audit(session, who.actor, who.role, "import_report", "job", job_id, rows=len(rows))
        return problems_to_csv(rows)


def problems_to_csv(rows: list[dict]) -> bytes:
    """CSV (UTF-8 with a BOM, so spreadsheets read accents); a cell a spreadsheet would take
    for a formula (a file named ``=cmd…``) is prefixed with an apostrophe."""
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, fieldnames=REPORT_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in REPORT_COLUMNS})
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(SPREADSHEET_TRIGGERS) else text


def _result(summary: IndexSummary, touched: int, ignored: list[Problem]) -> dict:
    rows = [p.as_dict() for p in ignored]
    rows += [
        {"file": r["path"], "record": r["record_id"], "problem": r["code"], "message": MESSAGES.get(r["code"], r["message"] or r["code"])}
        for r in summary.problems
    ]
    counts = {key: getattr(summary, key) for key in SUMMARY_KEYS}
    return {
        **counts,
        "children_created": summary.created,
        "files_ignored": len(ignored),
        "candidates_touched": touched,
        "problems": rows[:PROBLEM_CAP],
        "problems_total": len(rows),
        "problems_more": max(0, len(rows) - PROBLEM_CAP),
    }


def _nothing_to_import(problems: list[Problem]) -> str:
    text = "The ZIP holds no photo or video in a child's folder. Put each child's photos in a folder named after the record number, or add a manifest.csv."
    if problems:
        first = problems[0]
        text += f" {len(problems)} file(s) were skipped, for example {first.file}: {first.message}."
    return text
