"""Every sentence in one place: each refusal code has an HTTP status and a sentence in every language,
the languages name the same placeholders, and every key a template asks for is in the catalogs."""

import re
import string
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po
from jinja2 import nodes

import messages
from api.errors import STATUS, field_errors, refusal_body, refusal_headers
from api.exports import headers
from api.routes.reports import INDEX_COLUMNS
from api.routes.tasks import TASK_COLUMNS
from api.web.admin_pages import DONE
from api.web.forms import ROW_PARTS, form_fields
from api.web.i18n import jinja_environment, template_context
from domain.actors import Relation, Role
from domain.commands import Action
from domain.escalation import LADDER, OWNER_AUDIENCE, DeadlineKind, Owner, notice_text
from domain.events import Happening
from domain.refusals import Code
from domain.stages import Stage
from domain.status import StatusClass
from domain.task import BudgetStatus, Decision, Direction, Outcome, Reporting, TaskKind
from policies.enforcer import OTHER_ACTIONS
from services.views import AGENCY_KINDS

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "api" / "web" / "templates"

# A template may build a key from a prefix and a value: the values are these vocabularies.
FAMILIES: dict[str, list[str]] = {
    "stage.": list(Stage), "role.": list(Role), "kind.": list(DeadlineKind),
    "budget.status.": list(BudgetStatus), "review.decision.": list(Decision), "task_kind.": list(TaskKind),
    "reporting.": list(Reporting), "owner.": list(Owner), "direction.": list(Direction), "outcome.": list(Outcome),
    "status.": list(StatusClass), "task.rows_hint.": list(ROW_PARTS),
    "event.": [*Action, *Happening],  # every event type: an action someone took, or a happening
    "level.": [str(number) for number in (0, *(level.number for level in LADDER))],  # 0: not escalated
    "audience.": sorted({*(level.audience for level in LADDER), *OWNER_AUDIENCE.values()}),
    "field.": sorted({f.name for action in Action for f in form_fields(action)}),  # the action forms
    "action.": [*Action, *OTHER_ACTIONS],  # the policy's matrix names every action a rule may name
    "admin.done.": list(DONE), "admin.relation.": [*Relation, "any"], "agency_kind.": list(AGENCY_KINDS),
}


def sentences(language: str) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in messages.catalog(language) if m.id}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_code_has_a_status_and_a_sentence_in_every_language() -> None:
    assert sorted(code for code in Code if code not in STATUS) == [], "codes without an HTTP status"
    for language in messages.LANGUAGES:
        missing = sorted(code.value for code in Code if not sentences(language).get(f"error.{code}"))
        assert missing == [], f"codes without a sentence in {language}"
    strays = sorted(key for key in sentences("vi") if key.startswith("error.") and key[6:] not in set(Code))
    assert strays == [], "sentences for no code"


def test_the_languages_have_the_same_keys_and_the_same_placeholders() -> None:
    vi, en = sentences("vi"), sentences("en")
    assert set(vi) == set(en)
    assert [key for key in vi if not vi[key] or not en[key]] == [], "untranslated"
    differ = {key: (placeholders(vi[key]), placeholders(en[key]))
              for key in vi if placeholders(vi[key]) != placeholders(en[key])}
    assert differ == {}


@pytest.mark.parametrize("language", messages.LANGUAGES)
def test_every_sentence_with_placeholders_is_marked_python_brace_format(language: str) -> None:
    # Babel infers the flag from the msgid (a key here, without braces), so it is read from the file.
    unmarked = []
    blocks = messages.catalog_path(language).read_text(encoding="utf-8").strip().split("\n\n")
    for block in blocks[1:]:  # after the header
        key = re.search(r'^msgid "(.*)"$', block, re.MULTILINE)
        text = re.search(r'^msgstr "(.*)"$', block, re.MULTILINE)
        assert key and text, block
        if placeholders(text.group(1).replace('\\"', '"')) and "#, python-brace-format" not in block:
            unmarked.append(key.group(1))
    assert unmarked == []


def _template_keys() -> tuple[set[str], set[str], set[str]]:
    """From the templates' Jinja AST: the constant keys given to `_`, the prefixes of built keys
    (`_("stage." ~ s)`), and the field names given to the `field` macro (`field.<name>`)."""
    environment = jinja_environment(TEMPLATES)
    constants: set[str] = set()
    prefixes: set[str] = set()
    fields: set[str] = set()
    for path in sorted(TEMPLATES.glob("*.html")):
        source = path.read_text(encoding="utf-8")
        for _line, _function, message in environment.extract_translations(source, ("_", "gettext", "ngettext")):
            if isinstance(message, str):
                constants.add(message)
            elif isinstance(message, tuple):
                constants |= {m for m in message if isinstance(m, str)}
        for call in environment.parse(source).find_all(nodes.Call):
            name = call.node.name if isinstance(call.node, nodes.Name) else None
            assert name != "t", f"{path.name}: t(...) is the old name, say _(...)"
            if name in ("_", "gettext") and call.args and isinstance(call.args[0], nodes.CondExpr):
                branches = (call.args[0].expr1, call.args[0].expr2)  # _("a" if x else "b")
                constants |= {b.value for b in branches if isinstance(b, nodes.Const)}
            if name in ("_", "gettext") and call.args and isinstance(call.args[0], nodes.Concat):
                first = call.args[0].nodes[0]
                assert isinstance(first, nodes.Const), f"{path.name}: a key must start with a written prefix"
                prefixes.add(first.value)
            if name == "field" and len(call.args) > 1 and isinstance(call.args[1], nodes.Const):
                fields.add(call.args[1].value)
    return constants, prefixes, fields


def test_every_key_a_template_uses_is_in_every_catalog() -> None:
    constants, prefixes, fields = _template_keys()
    assert {"nav.tasks", "task.days_left", "form.done"} <= constants  # the extraction sees the templates
    unchecked = prefixes - set(FAMILIES)
    assert unchecked == set(), "a template builds keys from a vocabulary this test does not know"
    wanted = constants | {f"field.{name}" for name in fields} | {
        prefix + str(value) for prefix in prefixes & set(FAMILIES) for value in FAMILIES[prefix]}
    for language in messages.LANGUAGES:
        assert sorted(wanted - set(sentences(language))) == [], f"keys missing in {language}"


def test_a_missing_sentence_falls_back_to_vietnamese_then_to_the_key(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for language, texts in (("vi", {"a": "Một", "b": "Hai {n}"}), ("en", {"a": "One", "b": ""})):
        catalog = Catalog(locale=language, domain=messages.DOMAIN)
        for key, text in texts.items():
            catalog.add(key, text)
        path = tmp_path / language / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True)
        with path.open("wb") as out:
            write_po(out, catalog)
    monkeypatch.setattr(messages, "CATALOGS", tmp_path)
    messages.catalog.cache_clear()
    messages.translations.cache_clear()
    try:
        say_en = messages.gettext("en")
        assert (say_en("a"), say_en("b", n=2), say_en("c")) == ("One", "Hai 2", "c")
        assert messages.gettext("fr")("a") == "Một"  # a language not offered reads Vietnamese
    finally:
        messages.catalog.cache_clear()
        messages.translations.cache_clear()


def test_a_refusal_is_said_in_the_reader_language_with_what_follows_from_its_params() -> None:
    params = {"action": "accept", "stage": Stage.IN_PROGRESS}
    assert messages.say(Code.STAGE_CONFLICT, params) == \
        "Không thể thực hiện 'accept' khi nhiệm vụ ở giai đoạn 'Đang thực hiện' (in_progress)"
    assert messages.say("stage_conflict", params, "en") == \
        "'accept' does not fit the task's current stage, 'In progress' (in_progress)"
    assert messages.say(Code.KPI_RESULTS_JSON, {}) == 'phải là một đối tượng JSON, ví dụ {"Chỉ tiêu": 100}'
    roles = {"username": "a", "roles": [], "relation": "other", "action": "cancel", "task": "NQ57-1"}
    assert messages.say(Code.FORBIDDEN_ACTION, roles).startswith("Tài khoản 'a' (không có vai trò, quan hệ")
    assert messages.say(Code.TASK_NOT_FOUND, {}) == "Không tìm thấy nhiệm vụ '{task}'"  # a missing value shows


def test_the_json_of_a_refusal_keeps_the_shapes_of_the_api() -> None:
    field = refusal_body(Code.PASSWORD_TOO_SHORT, {"min": 10}, "password")
    assert field == {"detail": "password: cần ít nhất 10 ký tự", "code": "password_too_short",
                     "params": {"min": 10}, "errors": [{"field": "password", "message": "cần ít nhất 10 ký tự"}]}
    conflict = refusal_body(Code.STAGE_CONFLICT, {"action": "accept", "stage": Stage.IN_PROGRESS}, None,
                            {"stage": Stage.IN_PROGRESS})
    assert conflict["stage"] == "in_progress" and conflict["params"] == {"action": "accept", "stage": "in_progress"}
    assert "errors" not in conflict and STATUS[Code.STAGE_CONFLICT] == 409
    assert refusal_headers(STATUS[Code.BAD_TOKEN]) == {"WWW-Authenticate": "Bearer"}
    assert refusal_headers(STATUS[Code.LOGIN_LOCKED], {"retry_after": 120}) == {"Retry-After": "120"}
    assert refusal_headers(STATUS[Code.TASK_NOT_FOUND]) is None


def test_pydantic_errors_are_said_from_the_catalogs() -> None:
    errors = [{"type": "string_too_short", "loc": ("body", "title"), "msg": "String should have...",
               "ctx": {"min_length": 3}},
              {"type": "value_error", "loc": ("body", "lines"), "msg": "Value error, tổng các dòng khác"}]
    assert field_errors(errors) == [{"field": "title", "message": "cần ít nhất 3 ký tự"},
                                    {"field": "lines", "message": "tổng các dòng khác"}]
    assert field_errors(errors, "en")[0]["message"] == "needs at least 3 characters"


def test_a_page_renders_in_the_language_of_its_context() -> None:
    environment = jinja_environment(TEMPLATES)
    template = environment.from_string('{{ _("nav.tasks") }} · {{ _("tasks.total", n=num(3000)) }} · '
                                       '{{ ngettext("task.days_left", "task.days_left", 2) }} · {{ _("x<y") }}')
    assert template.render(template_context("en", "Asia/Ho_Chi_Minh")) == \
        "Tasks · Total: 3,000 · 2 days left · x&lt;y"
    assert template.render(template_context("vi", "Asia/Ho_Chi_Minh")) == \
        "Nhiệm vụ · Tổng số: 3.000 · còn 2 ngày · x&lt;y"


def test_the_lifecycle_refuses_by_code_and_the_catalog_says_it_whole() -> None:
    # domain/lifecycle.py writes no sentence: a refusal is its code and params, and the catalog's
    # sentence for it names nothing the params do not give.
    from domain.lifecycle import ACTION_STAGES, TaskRuleError, check_stage

    said = 0
    for action, stages in ACTION_STAGES.items():
        for stage in set(Stage) - set(stages):
            with pytest.raises(TaskRuleError) as refused:
                check_stage(stage, action)
            for language in messages.LANGUAGES:
                sentence = messages.say(refused.value.code, refused.value.params, language)
                assert "{" not in sentence and stage.value in sentence, sentence
            said += 1
    assert said > 0


def test_a_validator_refuses_by_code_and_a_refusal_has_its_detail() -> None:
    from pydantic_core import PydanticCustomError

    from domain.refusals import Refusal

    error = PydanticCustomError(Code.NOT_ONE_OF.value, "phải là một trong: {allowed}", {"allowed": "a, b"})
    found = [{"type": error.type, "loc": ("body", "role"), "msg": error.message(), "ctx": error.context}]
    assert field_errors(found, "en") == [{"field": "role", "message": "must be one of: a, b"}]
    refusal = Refusal(Code.UNKNOWN_AGENCY, field="lead_agency", agency="XYZ")
    assert messages.detail(refusal) == "lead_agency: không có cơ quan mã 'XYZ'"
    assert messages.detail(Refusal(Code.LOGIN_FAILED), "en") == "Wrong username or password"


def test_every_vocabulary_has_a_sentence_in_every_language() -> None:
    # Keys built from data, wherever they are built (templates, exports, the notice): each value has one.
    wanted = {prefix + str(value) for prefix, values in FAMILIES.items() for value in values}
    wanted |= {column.key for column in (*TASK_COLUMNS, *INDEX_COLUMNS)}
    wanted |= {column.says + str(value) for column in TASK_COLUMNS if column.says == "stage." for value in Stage}
    wanted |= {"notice.subject", "notice.body", "yes", "no"}
    for language in messages.LANGUAGES:
        assert sorted(wanted - set(sentences(language))) == [], f"keys missing in {language}"


def test_the_exports_say_their_headers_from_the_catalogs() -> None:
    assert headers(TASK_COLUMNS)[:2] == ["Mã nhiệm vụ", "Tên nhiệm vụ"]
    assert headers(TASK_COLUMNS, "en")[:2] == ["Task code", "Title"]
    said = headers(INDEX_COLUMNS)
    assert [said[[column.field for column in INDEX_COLUMNS].index(f"escalations_{level.number}")]
            for level in LADDER] == [f"Cảnh báo cấp {level.number}" for level in LADDER]
    for language in messages.LANGUAGES:
        for columns in (TASK_COLUMNS, INDEX_COLUMNS):
            assert len(set(headers(columns, language))) == len(columns), f"two columns read alike in {language}"


def test_the_escalation_notice_is_worded_by_the_catalogs() -> None:
    from domain.escalation import Escalation
    from tests.test_domain_escalation import DEADLINE, accepted_in_progress

    state = accepted_in_progress()
    for level in LADDER:  # a review's level 1 tells the reviewer, its owner; 2 and 3 the Office and the Committee
        rise = Escalation(kind=DeadlineKind.REVIEW, due=DEADLINE, level=level.number)
        subject, body = notice_text(state, rise)
        assert subject.startswith(f"[NQ57] Cảnh báo cấp {level.number}") and state.code in subject
        assert messages.text("kind.review") in subject and state.spec.title in body and "{" not in subject + body
        assert messages.text(f"audience.{rise.audience}") in body
    assert Escalation(kind=DeadlineKind.REVIEW, due=DEADLINE, level=1).audience == "reviewer"


def test_every_choice_an_action_form_offers_is_in_every_catalog() -> None:
    """A form's choices are said by keys made in api/web/forms.py, not written in the templates."""
    keys = {key for action in Action for f in form_fields(action) for _value, key in f.choices}
    assert {"outcome.not_met", "task_kind.standing"} <= keys
    for language in messages.LANGUAGES:
        assert sorted(keys - set(sentences(language))) == [], f"choices without a sentence in {language}"
