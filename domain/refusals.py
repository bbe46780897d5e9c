"""Every refusal the system can give, named by a code.

A rule that refuses raises `Refusal(Code.X, field=..., **params)`: the code names the rule, the
params fill its sentence. The sentence itself lives only in the message catalogs (`messages/`, one
per language) and the HTTP status only in the table of `api/errors.py` — never here, never at the
place that raises."""

from enum import StrEnum
from typing import Any


class Code(StrEnum):
    # who is asking
    NOT_SIGNED_IN = "not_signed_in"
    BAD_TOKEN = "bad_token"
    LOGIN_FAILED = "login_failed"
    LOGIN_LOCKED = "login_locked"
    ACCOUNT_DISABLED = "account_disabled"
    FORBIDDEN = "forbidden"
    FORBIDDEN_ACTION = "forbidden_action"
    UNPROVEN_ACTION = "unproven_action"
    CSRF = "csrf"
    # what is asked about
    NOT_FOUND = "not_found"
    TASK_NOT_FOUND = "task_not_found"
    ACTION_NOT_FOUND = "action_not_found"
    USER_NOT_FOUND = "user_not_found"
    AGENCY_NOT_FOUND = "agency_not_found"
    # the task's state
    STAGE_CONFLICT = "stage_conflict"
    TASK_CLOSED = "task_closed"
    TASK_EXISTS = "task_exists"
    NO_EXTENSION_REQUEST = "no_extension_request"
    EXTENSION_PENDING = "extension_pending"
    EXTENSIONS_EXHAUSTED = "extensions_exhausted"
    NO_REVIEWER = "no_reviewer"
    # what is sent
    DEADLINE_NOT_LATER = "deadline_not_later"
    DECIDER_IS_ASSIGNER = "decider_is_assigner"
    REVIEWER_IS_ASSIGNER = "reviewer_is_assigner"
    REVIEWER_NOT_INDEPENDENT = "reviewer_not_independent"
    SAME_LEAD_AGENCY = "same_lead_agency"
    KPI_RESULTS_JSON = "kpi_results_json"
    KPI_RESULTS_MISSING = "kpi_results_missing"
    FILES_REQUIRED = "files_required"
    TOO_MANY_FILES = "too_many_files"
    FILE_TYPE = "file_type"
    FILE_EMPTY = "file_empty"
    FILE_TOO_LARGE = "file_too_large"
    FILE_CONTENT_MISMATCH = "file_content_mismatch"
    UNKNOWN_USER = "unknown_user"
    UNKNOWN_AGENCY = "unknown_agency"
    NOT_A_REVIEWER = "not_a_reviewer"
    OFFICER_NOT_OF_LEAD = "officer_not_of_lead"
    IDEMPOTENCY_KEY_REUSED = "idempotency_key_reused"
    REQUIRED_FIELD = "required_field"
    PASSWORD_TOO_SHORT = "password_too_short"
    PASSWORD_COMMON = "password_common"
    PASSWORD_HAS_USERNAME = "password_has_username"
    USER_EXISTS = "user_exists"
    AGENCY_EXISTS = "agency_exists"
    LAST_POLICY_EDITOR = "last_policy_editor"
    ALREADY_PUBLISHED = "already_published"
    # the system's own limits
    TOO_MANY_ACTIONS = "too_many_actions"
    WORKFLOW_UNAVAILABLE = "workflow_unavailable"
    DATABASE_BUSY = "database_busy"


class Refusal(Exception):
    """A request refused by a rule. `field` names the input at fault (a 422 about one field);
    `extra` goes into the answer beside the sentence (e.g. `retry_after`, `stage`)."""

    def __init__(self, code: Code, /, *, field: str | None = None, extra: dict[str, Any] | None = None,
                 **params: Any) -> None:
        super().__init__(code.value)
        self.code = code
        self.field = field
        self.extra = extra or {}
        self.params = params
