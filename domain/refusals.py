"""Every refusal the system can give, named by a code.

A rule that refuses raises `Refusal(Code.X, field=..., **params)`: the code names the rule, the
params fill its sentence. The sentence itself lives only in the message catalogs (`messages/`, one
per language) and the HTTP status only in the table of `api/errors.py` — never here, never at the
place that raises."""

from enum import StrEnum
from typing import Any

from pydantic_core import PydanticCustomError


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
    BULK_SELECTION = "bulk_selection"
    OWN_ACCOUNT = "own_account"
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
    AGENCY_OWN_PARENT = "agency_own_parent"
    LAST_POLICY_EDITOR = "last_policy_editor"
    ALREADY_PUBLISHED = "already_published"
    # the system's own limits
    TOO_MANY_ACTIONS = "too_many_actions"
    WORKFLOW_UNAVAILABLE = "workflow_unavailable"
    DATABASE_BUSY = "database_busy"
    DATABASE_LOST = "database_lost"
    # added for the application layer (services/)
    NOT_PERMITTED = "not_permitted"
    NOTIFICATION_NOT_FOUND = "notification_not_found"
    EVIDENCE_NOT_FOUND = "evidence_not_found"
    EVIDENCE_CHANGED = "evidence_changed"
    RANKING_NOT_PUBLISHED = "ranking_not_published"
    PERIOD_INVALID = "period_invalid"
    RULE_EXISTS = "rule_exists"
    RULE_NOT_FOUND = "rule_not_found"
    IMPORT_TOO_LARGE = "import_too_large"
    IMPORT_FILE_TYPE = "import_file_type"
    UNKNOWN_AGENCIES = "unknown_agencies"
    LEAD_ALSO_COORDINATES = "lead_also_coordinates"
    EVIDENCE_NEEDS_MULTIPART = "evidence_needs_multipart"
    TOO_MANY_REQUESTS = "too_many_requests"
    SOURCE_DOCUMENT_MISSING = "source_document_missing"
    SOURCE_DATE_INVALID = "source_date_invalid"
    NOTHING_TO_CORRECT = "nothing_to_correct"
    DEADLINE_ALREADY_EXTENDED = "deadline_already_extended"
    KPIS_UNDER_REVIEW = "kpis_under_review"
    DIRECTING_IS_LEAD = "directing_is_lead"
    SUBTASKS_OPEN = "subtasks_open"
    SUBTASKS_OPEN_REASSIGN = "subtasks_open_reassign"
    SUBTASK_NOT_UNDER_LEAD = "subtask_not_under_lead"
    SUBTASK_DEADLINE_AFTER_PARENT = "subtask_deadline_after_parent"
    # task kinds (one-off, recurring, standing, deadline pending)
    DEADLINE_REQUIRED = "deadline_required"
    KIND_TAKES_NO_DEADLINE = "kind_takes_no_deadline"
    RECURRING_NEEDS_REPORTING = "recurring_needs_reporting"
    NOT_CLOSABLE = "not_closable"
    STANDING_NEVER_COMPLETED = "standing_never_completed"
    NO_DEADLINE_TO_EXTEND = "no_deadline_to_extend"
    # results, money, the accountable person, quarterly publication (issue "Results, not reports")
    KPI_UNKNOWN = "kpi_unknown"
    KPI_RESULT_NOT_A_FIGURE = "kpi_result_not_a_figure"
    OUTCOME_NOT_MET_REQUIRED = "outcome_not_met_required"
    OUTCOME_REASON_REQUIRED = "outcome_reason_required"
    DISBURSEMENT_OVER_BUDGET = "disbursement_over_budget"
    NO_APPROVED_BUDGET = "no_approved_budget"
    AMENDMENT_PENDING = "amendment_pending"
    NO_AMENDMENT_PENDING = "no_amendment_pending"
    AMENDMENT_BELOW_DISBURSED = "amendment_below_disbursed"
    NOT_AN_AGENCY_HEAD = "not_an_agency_head"
    REASSIGN_NOTHING = "reassign_nothing"
    PUBLICATION_NOT_FOUND = "publication_not_found"
    PUBLICATION_NOT_A_QUARTER = "publication_not_a_quarter"
    PERIOD_NOT_ENDED = "period_not_ended"
    GROUP_NOT_FOUND = "group_not_found"
    # added with the catalogs: sentences written inline in api/ and domain/ until now
    ADDRESS_NOT_FOUND = "address_not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    INVALID_INPUT = "invalid_input"
    UNREADABLE_BODY = "unreadable_body"
    BODY_TOO_LARGE = "body_too_large"
    TEMPORAL_UNAVAILABLE = "temporal_unavailable"
    IMPORT_NOT_UTF8 = "import_not_utf8"
    IMPORT_EMPTY = "import_empty"
    IMPORT_MISSING_COLUMNS = "import_missing_columns"
    IMPORT_EXCEL_UNREADABLE = "import_excel_unreadable"
    BUDGET_REQUIRED_YES_NO = "budget_required_yes_no"
    KPI_FORMAT = "kpi_format"
    KPI_TARGET_NOT_NUMBER = "kpi_target_not_number"
    LINES_TOTAL_MISMATCH = "lines_total_mismatch"
    DEADLINE_INVALID = "deadline_invalid"
    NOT_ONE_OF = "not_one_of"


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

    def __str__(self) -> str:  # for logs and failures; people read the catalog's sentence
        return f"{self.code.value} {self.params}" if self.params else self.code.value


def invalid(code: Code, /, **params: Any) -> PydanticCustomError:
    """A refusal inside a pydantic validator: pydantic names the field at fault, the catalog says
    the sentence (api/errors.py: field_errors reads the code as the error's type)."""
    return PydanticCustomError(code.value, code.value, params)
