"""Who may see and change which records (invariant 4, docs/architecture.md): a family sees only the reports it
created (anything else answers 404, so it cannot even learn that a record exists); shelter
staff see children; reviewers and admins see both."""

from __future__ import annotations

from sqlalchemy.orm import Session

from matcher.errors import ForbiddenError, NotFoundError
from matcher.store.tables import Record
from matcher.types import Principal, Role, Side

SIDE_ROLES = {Side.REPORT: (Role.FAMILY, Role.REVIEWER, Role.ADMIN), Side.CHILD: (Role.SHELTER, Role.REVIEWER, Role.ADMIN)}
WRITE_ROLES = {Side.REPORT: (Role.FAMILY, Role.ADMIN), Side.CHILD: (Role.SHELTER, Role.ADMIN)}


def load_record(session: Session, record_id: int, principal: Principal, write: bool = False) -> Record:
    """A record as ``principal`` may see it (``write``: change it), else ``NotFoundError`` (a
    family learns nothing of records that are not its own) or ``ForbiddenError``."""
    record = session.get(Record, record_id)
    if record is None or record.status == "withdrawn":
        raise NotFoundError(f"no record {record_id}")
    allowed = (WRITE_ROLES if write else SIDE_ROLES)[record.side]
    if principal.role not in allowed:
        if principal.role == "family":
            raise NotFoundError(f"no record {record_id}")
        raise ForbiddenError(f"a {principal.role} account cannot {'change' if write else 'see'} {record.side} records")
    if principal.role == "family" and record.owner_id != principal.user_id:
        raise NotFoundError(f"no record {record_id}")
    return record
