"""The approval errors: branches of regogate's one tree (regogate/errors.py), each with
the SQLSTATE a held client sees and the HTTP status the approvals API answers with.

    PolicyDenied (42501)
    └── ApprovalError (42501)              the approval flow refused something
        ├── ApprovalNotFound (42704)       no such request (HTTP 404)
        ├── ApprovalForbidden (42501)      not an approver / own request (HTTP 403)
        ├── ApprovalConflict (55000)       already decided, expired, consumed (HTTP 409)
        ├── ApprovalMismatch (42501)       the statement is not the one approved (HTTP 409)
        ├── ApprovalPending (RA001)        async mode: held as a request, run it again later
        ├── ApprovalDenied (RA002)         an approver denied the held statement
        └── ApprovalExpired (RA003)        nobody decided it within [approvals] timeout
    RegogateError
    └── ApprovalStoreError (58030)         the store cannot be read or written (HTTP 503)
"""

from __future__ import annotations

from regogate.errors import PolicyDenied, RegogateError


class ApprovalError(PolicyDenied):
    http_status = 400
    code = "bad_request"


class ApprovalNotFound(ApprovalError):
    sqlstate = "42704"
    http_status = 404
    code = "not_found"


class ApprovalForbidden(ApprovalError):
    http_status = 403
    code = "forbidden"


class ApprovalConflict(ApprovalError):
    sqlstate = "55000"  # object_not_in_prerequisite_state
    http_status = 409
    code = "conflict"


class ApprovalMismatch(ApprovalConflict):
    """The statement about to run is not the one approved (text or parameters changed)."""

    sqlstate = "42501"
    code = "mismatch"


class ApprovalStoreError(RegogateError):
    sqlstate = "58030"
    http_status = 503
    code = "store_unavailable"


class ApprovalPending(ApprovalError):
    """Async mode ([approvals] async_connections): the statement is not held; a request
    was made, and the same statement with the same parameters runs once approved."""

    sqlstate = "RA001"


class ApprovalDenied(ApprovalError):
    sqlstate = "RA002"


class ApprovalExpired(ApprovalError):
    sqlstate = "RA003"
