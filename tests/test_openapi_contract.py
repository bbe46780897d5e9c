"""The OpenAPI document tells the truth about the answers.

The fast tests walk `app.openapi()` and check each operation declares the statuses it can give,
one rule per test. The schemathesis run sends generated requests (valid and invalid, then linked
sequences) to the app of the `stack` fixture, authenticated, with every schemathesis check on, and
fails on any server error or any answer the document does not describe (status, media type, body,
headers). It uses schemathesis's Python API (`as_strategy`, `call_and_validate`, `as_state_machine`):
the CLI's coverage phase, and so the `missing_required_header` check it feeds, is not part of it.
No operation is left out: the file downloads run too, against a file the run uploads first."""

import asyncio
import functools
import importlib
import json
import pkgutil
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

import api.routes
from api.app import create_app
from api.bootstrap import DEMO_USERS
from api.exports import XLSX_TYPE
from services.blobs import ALLOWED_TYPES
from settings import Settings
from tests.helpers import TEST_SECRET, Figures, Stack, unique_code

METHODS = {"get", "put", "post", "patch", "delete"}
LOGIN = ("post", "/api/v1/auth/token")
ERROR_BODY = "#/components/schemas/ErrorBody"


# --- the document, walked ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("openapi"), secret_key=TEST_SECRET, demo=False))


@pytest.fixture(scope="module")
def document(app: Any) -> dict[str, Any]:
    return app.openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, items in document["paths"].items():
        for method, operation in items.items():
            if method in METHODS:
                yield method, path, operation


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"] if status.isdigit()}


def lacking(document: dict[str, Any], wanted: Callable[[str, str, dict[str, Any]], set[int]]) -> dict[str, Any]:
    """Each operation that does not declare all the statuses `wanted` says it must, with those missing."""
    found = {}
    for method, path, operation in operations(document):
        missing = wanted(method, path, operation) - statuses(operation)
        if missing:
            found[f"{method.upper()} {path}"] = sorted(missing)
    return found


def _api_routes() -> Iterator[Any]:
    """The routes of every router in api/routes (the app includes them all)."""
    for module in pkgutil.iter_modules(api.routes.__path__):
        yield from importlib.import_module(f"api.routes.{module.name}").router.routes


def _dependency_names(method: str, path: str) -> set[str]:
    """The qualified names of every dependency the route's handler goes through."""
    route = next(r for r in _api_routes() if r.path == path and method.upper() in r.methods)
    names, todo = set(), [route.dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call is not None:
            names.add(getattr(dependant.call, "__qualname__", ""))
        todo.extend(dependant.dependencies)
    return names


def test_fastapis_own_422_body_is_gone(document: dict[str, Any]) -> None:
    """FastAPI's `HTTPValidationError` (`detail` as an array) is not what the server sends."""
    text = json.dumps(document)
    assert "HTTPValidationError" not in text and '"ValidationError"' not in text


def test_422_is_the_real_shape(document: dict[str, Any]) -> None:
    """`{"detail": "<sentence>", "errors": [{"field", "message"}]}`, as api/errors.py sends it."""
    schemas = document["components"]["schemas"]
    body = schemas["ErrorBody"]
    assert body["required"] == ["detail"] and body["properties"]["detail"]["type"] == "string"
    assert body["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(schemas["FieldError"]["required"]) == {"field", "message"}
    for method, path, operation in operations(document):
        if "422" in operation["responses"]:
            schema = operation["responses"]["422"]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_BODY}, (method, path)


def test_every_error_answer_has_the_error_body(document: dict[str, Any]) -> None:
    """Every 4xx and 5xx answer is documented with the shared body (readiness has its own)."""
    wrong = {}
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if status[0] in "45":
                schema = answer.get("content", {}).get("application/json", {}).get("schema")
                expected = "#/components/schemas/Readiness" if path == "/readyz" else ERROR_BODY
                if schema != {"$ref": expected}:
                    wrong[f"{method.upper()} {path} {status}"] = schema
    assert not wrong


def test_authenticated_routes_declare_401_and_only_they(document: dict[str, Any]) -> None:
    """401 wherever a token is required (with `WWW-Authenticate`), and on login (a wrong password)."""
    for method, path, operation in operations(document):
        must = bool(operation.get("security")) or (method, path) == LOGIN
        assert (401 in statuses(operation)) == must, (method, path)
        if must:
            assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True


def test_routes_under_the_policy_declare_403(document: dict[str, Any]) -> None:
    """403 on every route that asks the policy (`require`, `task_access`, `action_access` in api/deps.py)."""
    policy = ("require.<locals>", "task_access.<locals>", "action_access.<locals>")

    def wanted(method: str, path: str, _: dict[str, Any]) -> set[int]:
        names = _dependency_names(method, path)
        return {403} if any(name.startswith(policy) for name in names) else set()

    assert not lacking(document, wanted)


def test_routes_naming_a_resource_declare_404(document: dict[str, Any]) -> None:
    """A task, user, file, notification or action named in the path may be unknown."""
    assert not lacking(document, lambda _m, path, _o: {404} if "{" in path else set())


def test_action_routes_declare_what_an_action_can_meet(document: dict[str, Any]) -> None:
    """Unknown task, wrong stage, policy, malformed body, a busy task, a workflow that did not answer."""
    assert not lacking(document, lambda _m, path, _o: {401, 403, 404, 409, 413, 422, 429, 503}
                       if "/actions/" in path else set())


def test_routes_using_the_database_declare_503(document: dict[str, Any]) -> None:
    """Every route but /healthz opens a database session (the token's user, at least): when no
    connection comes free in time, 503 (api/errors.py `_database_busy`)."""
    assert not lacking(document, lambda _m, path, _o: set() if path == "/healthz" else {503})


def test_creates_declare_429_and_503(document: dict[str, Any]) -> None:
    """Creating a task starts a workflow: it can find Temporal busy or not answering."""
    assert {409, 429, 503} <= statuses(document["paths"]["/api/v1/tasks"]["post"])


def test_public_routes_and_login_declare_429(document: dict[str, Any]) -> None:
    """The public rate limit and the login lockout."""
    assert not lacking(document, lambda method, path, _o: {429} if path.startswith("/public/") or
                       (method, path) == LOGIN else set())


def test_every_429_and_503_documents_retry_after(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status in ("429", "503"):
            if status in operation["responses"]:
                header = operation["responses"][status].get("headers", {}).get("Retry-After")
                assert header and header["required"] is True and header["schema"]["type"] == "integer", \
                    (method, path, status)


def test_every_body_declares_413(document: dict[str, Any]) -> None:
    """The body-size middleware answers 413 before authentication, on any route that takes a body."""
    assert not lacking(document, lambda _m, _p, operation: {413} if "requestBody" in operation else set())


def test_uploads_declare_415(document: dict[str, Any]) -> None:
    """A multipart body may carry a file of a type not allowed."""
    def wanted(_m: str, _p: str, operation: dict[str, Any]) -> set[int]:
        return {413, 415} if "multipart/form-data" in operation.get("requestBody", {}).get("content", {}) \
            else set()

    assert not lacking(document, wanted)


def test_no_route_answers_400(document: dict[str, Any]) -> None:
    """api.md has no 400: a body the framework cannot parse is malformed input, a 422."""
    assert not [f"{m} {p}" for m, p, operation in operations(document) if 400 in statuses(operation)]


async def test_an_unreadable_body_is_a_422_naming_the_body(stack: Stack) -> None:
    """Not UTF-8 where JSON is expected, or a multipart body without its boundary."""
    headers = await stack.login("office")
    for content_type, content in (("application/json", b"\xff\xfe{"), ("multipart/form-data", b"--x\r\n")):
        answer = await stack.http.post("/api/v1/tasks", headers={**headers, "content-type": content_type},
                                       content=content)
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["errors"][0]["field"] == "body" and len(body["detail"].split()) >= 3, body


def _can_be_malformed(operation: dict[str, Any]) -> bool:
    """A body, a query or header parameter, or a path parameter that is more than any text."""
    def plain_text(schema: dict[str, Any]) -> bool:
        return {key: value for key, value in schema.items() if key != "title"} == {"type": "string"}

    return "requestBody" in operation or any(parameter["in"] != "path" or not plain_text(parameter["schema"])
                                             for parameter in operation.get("parameters", []))


def test_422_exactly_where_input_can_be_malformed(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        assert (422 in statuses(operation)) == _can_be_malformed(operation), (method, path)


def test_table_downloads_declare_csv_and_xlsx(document: dict[str, Any]) -> None:
    """Every route with `format=csv|xlsx` answers those files beside its JSON."""
    found = 0
    for method, path, operation in operations(document):
        formats = [p for p in operation.get("parameters", []) if p["name"] == "format"]
        if formats:
            found += 1
            assert {"csv", "xlsx"} <= set(formats[0]["schema"].get("enum", [])), (method, path)
            assert {"application/json", "text/csv", XLSX_TYPE} <= set(operation["responses"]["200"]["content"]), \
                (method, path)
    assert found == 3  # the task list, the agency index, the status classes


def test_evidence_download_declares_its_file_types(document: dict[str, Any]) -> None:
    content = document["paths"]["/api/v1/tasks/{code}/evidence/{sha256}"]["get"]["responses"]["200"]["content"]
    assert set(content) == set(ALLOWED_TYPES.values())
    assert content["application/pdf"]["schema"] == {"type": "string", "format": "binary"}


def test_the_action_path_names_the_actions(document: dict[str, Any]) -> None:
    """`{action}` lists the actions the route takes (evidence.submit has its own multipart route)."""
    from domain.lifecycle import ACTIONS

    parameters = document["paths"]["/api/v1/tasks/{code}/actions/{action}"]["post"]["parameters"]
    action = next(p for p in parameters if p["name"] == "action")
    assert set(action["schema"]["enum"]) == set(ACTIONS) - {"evidence.submit"}


# --- schemathesis against the stack ------------------------------------------------------------

MAX_EXAMPLES = 25  # per operation and generation mode (valid, invalid)
STATEFUL_EXAMPLES = 25  # sequences of up to 6 linked calls
DEADLINE_SECONDS = 10  # one request; the action timeout (20 s) would be a hang here
BUDGET_SECONDS = 150  # the whole run: a guard against a runaway (it takes 30-40 s here)
CLIENT = ("198.51.100.57", 40000)  # its own address: the public rate limit and the login lockout count apart
PASSWORD = "contract-test-password-57"


# Requests the document calls valid that the server refuses, by rules no JSON Schema states (or that
# the models do not document yet: see the reasons). `positive_data_acceptance` takes these refusals
# on these operations only; everywhere else a valid request must be accepted (or 401/403/404/409/429).
SEMANTIC_REFUSALS = {
    "POST /api/v1/reports/publications": (["422"], "the quarter must have ended"),
    "POST /api/v1/agencies": (["422"], "the `parent` must be an existing agency, and not the agency itself"),
    "POST /api/v1/tasks": (
        ["422"], "the lead and coordinating agencies must exist; `deadline` is a date, a quarter or one of the "
                 "Committee's phrases (domain/deadlines.py)"),
    "POST /api/v1/tasks/import": (
        ["415", "422"], "the file must be named .csv or .xlsx and hold the program's columns"),
    "POST /api/v1/tasks/{code}/actions/{action}": (
        ["422"], "each action has a body of its own (domain/commands.py), and OpenAPI cannot tie a body to a path "
                 "segment: the document says `object`"),
    "POST /api/v1/tasks/{code}/actions/evidence.submit": (
        ["415", "422"], "each file must have an allowed extension and content of that type, `kpi_results` must be "
                        "a JSON object of the task's KPIs; and a form field whose generated name cannot be written "
                        "in a multipart header (control characters) leaves a body no parser reads"),
    "POST /api/v1/tasks/{code}/subtasks": (
        ["422"], "the unit must exist and stand under the lead agency, and the part's `deadline` (a phrase) must not "
                 "fall after the task's"),
    "POST /api/v1/users": (
        ["422"], "the agency must exist; the password rules (api/security.py: 10 characters — UserIn documents "
                 "8 —, not the username, not a common one)"),
    "PATCH /api/v1/users/{username}": (
        ["422"], "the agency must exist; UserPatch documents `full_name`, `roles`, `disabled` as nullable, but a "
                 "null is refused (leave the field out instead)"),
    "POST /api/v1/users/{username}/password": (["422"], "the password rules (api/security.py)"),
    "POST /api/v1/policy/rules": (
        ["422"], "role, relation, stage and action must be from their lists, which PolicyRule checks in "
                 "validators and documents as any string"),
    "POST /api/v1/policy/rules/delete": (["422"], "as for POST /api/v1/policy/rules"),
}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis's own list


def _config() -> schemathesis.Config:
    return schemathesis.Config.from_dict({"operations": [
        {"include-name": name, "checks": {"positive_data_acceptance": {"expected-statuses": ACCEPTED + statuses}}}
        for name, (statuses, _why) in SEMANTIC_REFUSALS.items()]})


class LoopBridge:
    """The stack's ASGI app seen as a WSGI app, for schemathesis (which is synchronous and runs in a
    thread of its own): each request is sent by an httpx client of the app, on the test's event loop,
    where the app's database engine, Temporal client and worker live."""

    def __init__(self, client: httpx.AsyncClient, loop: asyncio.AbstractEventLoop, identities: "Identities",
                 protected: set[str], target: str) -> None:
        self.client, self.loop, self.identities = client, loop, identities
        self.protected, self.target = protected, target
        self.requests = 0
        self.statuses: Counter[int] = Counter()  # of the operation being run
        self.server_errors: list[str] = []  # every 5xx, whatever the checks made of it

    def guard(self, method: str, raw_path: bytes) -> bytes:
        """No change to the accounts the other tests use (the stack is shared): a request that would
        disable, re-role or re-password one of them goes to the run's target account instead."""
        parts = raw_path.split(b"?")[0].split(b"/")
        if method != "GET" and parts[1:4] == [b"api", b"v1", b"users"] and len(parts) > 4 \
                and unquote_to_bytes(parts[4]).decode("utf-8", "replace") in self.protected:
            return raw_path.replace(b"/users/" + parts[4], b"/users/" + self.target.encode(), 1)
        return raw_path

    def send(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=90)

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> list[bytes]:
        headers = [(name[5:].replace("_", "-").lower(), value) for name, value in environ.items()
                   if name.startswith("HTTP_") and name != "HTTP_HOST"]
        for name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(name):
                headers.append((name.replace("_", "-").lower(), environ[name]))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        method = environ["REQUEST_METHOD"]
        raw = environ["RAW_URI"]  # the path exactly as sent (percent-escapes kept); werkzeug keeps the query apart
        if environ.get("QUERY_STRING") and "?" not in raw:
            raw += "?" + environ["QUERY_STRING"]
        url = self.client.base_url.copy_with(raw_path=self.guard(method, raw.encode("latin-1")))
        request = self.client.build_request(method, url, content=body,
                                            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers])
        self.requests += 1
        answer: httpx.Response = self.send(self.client.send(request))
        self.statuses[answer.status_code] += 1
        if answer.status_code >= 500:
            self.server_errors.append(f"{method} {url} -> {answer.status_code} {answer.text[:300]}")
        self.identities.saw(request, answer)
        start_response(f"{answer.status_code} {answer.reason_phrase}",
                       [(k.decode("latin-1"), v.decode("latin-1")) for k, v in answer.headers.raw])
        return [answer.content]


class Identities:
    """Who the generated requests speak for: an administrator of its own on the administration
    routes, a Standing Office person of its own elsewhere (they create, read and act on tasks), so
    the requests reach the routes' logic, not only their 401. Tokens are fetched once and again
    after the run logged that person out."""

    ADMIN_PATHS = ("/api/v1/users", "/api/v1/policy", "/api/v1/audit")

    def __init__(self, stack: Stack, loop: asyncio.AbstractEventLoop, admin: str, office: str) -> None:
        self.stack, self.loop = stack, loop
        self.users = {"admin": admin, "office": office}
        self.tokens: dict[str, str] = {}

    def who(self, method: str, path: str) -> str:
        admin = path.startswith(self.ADMIN_PATHS) or (method == "POST" and path == "/api/v1/agencies")
        return "admin" if admin else "office"

    def token(self, who: str) -> str:
        if who not in self.tokens:
            login = self.stack.login(self.users[who], PASSWORD)  # the fixture's client: not the run's address
            headers = asyncio.run_coroutine_threadsafe(login, self.loop).result(timeout=60)
            self.tokens[who] = headers["Authorization"].removeprefix("Bearer ")
        return self.tokens[who]

    def saw(self, request: httpx.Request, answer: httpx.Response) -> None:
        """A logout, or a 401 to a token of the run's, ends that token: a new one is fetched next time."""
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if answer.status_code == 401 or request.url.path == "/api/v1/auth/logout":
            self.tokens = {who: known for who, known in self.tokens.items() if known != token}


async def _seed(stack: Stack, run: str) -> dict[str, Any]:
    """An agency and people of the run's own (so what it creates touches no one else's inbox or
    index), and tasks to act on: one assigned, one in progress, one in cross-check with a file."""
    admin = await stack.login("admin")
    agency = f"OAS-{run}".upper()
    answer = await stack.http.post("/api/v1/agencies", headers=admin, json={
        "code": agency, "name": "Cơ quan kiểm thử hợp đồng API", "kind": "other"})
    assert answer.status_code == 201, answer.text
    people = {key: f"contract-{key}-{run}" for key in ("admin", "office", "head", "target")}
    for key, roles, where in (("admin", ["admin"], None), ("office", ["steering_office"], "VPTW"),
                              ("head", ["agency_head"], agency), ("target", ["agency_officer"], agency)):
        answer = await stack.http.post("/api/v1/users", headers=admin, json={
            "username": people[key], "password": PASSWORD, "full_name": "Kiểm thử hợp đồng API", "agency": where,
            "roles": roles})
        assert answer.status_code == 201, answer.text
    office, head = await stack.login("office"), await stack.login(people["head"], PASSWORD)
    codes = []
    for _ in range(3):
        code = unique_code("OAS")
        answer = await stack.http.post("/api/v1/tasks", headers=office, json={
            "code": code, "title": "Kiểm thử hợp đồng API", "lead_agency": agency, "deadline": "2027-12",
            "product": "Tài liệu", "kpis": [{"name": "Tỷ lệ", "target": 100, "unit": "%"}]})
        assert answer.status_code == 201, answer.text
        codes.append(code)
    for code in codes[1:]:
        answer = await stack.http.post(f"/api/v1/tasks/{code}/actions/accept", headers=head, json={})
        assert answer.status_code == 200, answer.text
    answer = await stack.http.post(
        f"/api/v1/tasks/{codes[2]}/actions/evidence.submit", headers=head,
        files=[("files", ("bien-ban.txt", "Biên bản nghiệm thu".encode(), "text/plain"))],
        data={"summary": "Hoàn thành", "kpi_results": json.dumps({"Tỷ lệ": 100})})
    assert answer.status_code == 200, answer.text
    sha256 = answer.json()["evidence"][0]["files"][0]["sha256"]
    return {"agency": agency, "people": people, "codes": codes, "evidence": (codes[2], sha256)}


async def _policy(stack: Stack) -> list[dict[str, str]]:
    answer = await stack.http.get("/api/v1/policy", headers=await stack.login("admin"))
    assert answer.status_code == 200, answer.text
    return answer.json()


async def _restore_policy(stack: Stack, before: list[dict[str, str]]) -> list[dict[str, str]]:
    """The policy as it was before the run (the stack is shared with the other tests): put back
    what the run removed, then take away what it added. Returns what differed."""
    now = await _policy(stack)
    admin = await stack.login("admin")
    missing = [rule for rule in before if rule not in now]
    added = [rule for rule in now if rule not in before]
    for rule in missing:
        assert (await stack.http.post("/api/v1/policy/rules", headers=admin, json=rule)).status_code == 201
    for rule in added:
        assert (await stack.http.post("/api/v1/policy/rules/delete", headers=admin, json=rule)).status_code == 204
    return missing + added


def _fuzz(schema: Any, bridge: LoopBridge, started: float) -> tuple[list[str], list[str], int]:
    """Every operation, with valid then invalid data: the summary lines, the failures, the examples run."""
    lines, failures, total = [], [], 0
    settings = hypothesis.settings(
        max_examples=MAX_EXAMPLES, deadline=DEADLINE_SECONDS * 1000, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
        report_multiple_bugs=False)
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            if time.monotonic() - started > BUDGET_SECONDS:
                raise AssertionError(f"schemathesis run over its {BUDGET_SECONDS} s budget at {operation.label}")
            before, examples = bridge.requests, 0
            bridge.statuses.clear()

            @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
            @settings
            def check(case: schemathesis.Case) -> None:
                nonlocal examples
                examples += 1
                case.call_and_validate()

            try:
                check()
                outcome = "ok"
            except hypothesis.errors.Unsatisfiable:
                outcome = "nothing to make invalid" if examples == 0 else "ok"
            except (Exception, BaseExceptionGroup) as error:  # reported with its request; the run goes on
                outcome = "FAILED"
                failures.append(f"{operation.label} [{mode.value}]\n{error}")
            total += examples
            answers = " ".join(f"{status}×{count}" for status, count in sorted(bridge.statuses.items()))
            lines.append(f"{operation.label:<56} {mode.value:<8} {examples:>3} examples {bridge.requests - before:>4} "
                         f"requests  {outcome:<8} {answers}")
    return lines, failures, total


def _not_the_api(error: BaseException) -> str | None:
    """A stateful session that stopped for a reason outside the API, after which a fresh session is
    run (as schemathesis's own engine does for the first):
    - Hypothesis replayed a sequence and the server answered otherwise than the first time (a code
      taken meanwhile...), so the sequence drew differently: a fact of testing a live server;
    - CPython 3.11's AST constructor keeps its recursion count per interpreter, not per thread
      (python/cpython#106905): Hypothesis reading the machine's source here while the app compiles
      workflow code on the event loop's thread can raise a spurious SystemError."""
    if isinstance(error, SystemError) and "AST constructor recursion depth mismatch" in str(error):
        return "cpython-ast"
    trace = error.__traceback__
    while trace is not None and trace.tb_next is not None:
        trace = trace.tb_next
    if isinstance(error, hypothesis.errors.FlakyStrategyDefinition) or (
            isinstance(error, AssertionError) and trace is not None
            and trace.tb_frame.f_globals.get("__name__") == "hypothesis.internal.conjecture.datatree"):
        return "replay-diverged"
    return None


def _stateful(schema: Any, bridge: LoopBridge) -> tuple[str, list[str]]:
    """Sequences along the document's links (a created task's code into its reads and actions, a
    created user's name into its reads and changes, a submitted file into its download)."""
    transitions = schema.statistic.transitions
    if not transitions.total:
        return "stateful: the document has no links to follow", []
    machine = schema.as_state_machine()
    before, stops, failures = bridge.requests, Counter[str](), []
    bridge.statuses.clear()
    for attempt in range(4):
        try:
            machine.run(settings=hypothesis.settings(
                max_examples=STATEFUL_EXAMPLES, stateful_step_count=6, deadline=DEADLINE_SECONDS * 1000,
                derandomize=attempt == 0, database=None, phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck), report_multiple_bugs=False))
            break
        except (Exception, BaseExceptionGroup) as error:
            reason = _not_the_api(error)
            if reason:  # after the fourth session, the run stops there: nothing failed
                stops[reason] += 1
                continue
            failures = [f"stateful\n{error}\n" + "".join(traceback.format_exception(error)[-12:])]
            break
    return (f"stateful: {transitions.selected}/{transitions.total} links, {bridge.requests - before} requests, "
            f"sessions stopped outside the API: {dict(stops)}, {'FAILED' if failures else 'ok'}  "
            + " ".join(f"{status}×{count}" for status, count in sorted(bridge.statuses.items()))), failures


async def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
        stack: Stack, figures: Figures) -> None:
    if stack.database == "postgres":
        pytest.skip("the document and the server's answers do not depend on the database, and the run takes "
                    "30-60 s: on SQLite only, to keep the suite within its 10 minutes (the database-specific "
                    "tests run on both)")
    loop = asyncio.get_running_loop()
    seeds = await _seed(stack, uuid.uuid4().hex[:6])
    policy = await _policy(stack)
    app = stack.http._transport.app  # the stack's own app (tests/conftest.py hands it to this transport)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=CLIENT),
                                 base_url=str(stack.http.base_url), timeout=60) as client:
        people = seeds["people"]
        identities = Identities(stack, loop, people["admin"], people["office"])
        # The run's own two accounts, and everyone the other tests use (the administrator, the demo people).
        protected = {"admin", people["admin"], people["office"], *(user[0] for user in DEMO_USERS)}
        bridge = LoopBridge(client, loop, identities, protected, people["target"])
        summary, failures = await asyncio.to_thread(_run, bridge, identities, seeds)
    restored = await _restore_policy(stack, policy)
    for line in summary:
        if line.startswith(("schemathesis:", "stateful:")):  # the per-operation lines stay in the test's output
            figures(line)
    print("\n".join(summary))
    if restored:
        figures(f"policy rules the run changed and the test put back: {len(restored)}")
    assert not failures, "\n\n".join(failures)


def _run(bridge: LoopBridge, identities: Identities, seeds: dict[str, Any]) -> tuple[list[str], list[str]]:
    started = time.monotonic()
    schema = schemathesis.openapi.from_wsgi("/openapi.json", bridge, config=_config())
    people, codes, evidence = seeds["people"], seeds["codes"], seeds["evidence"]

    @schema.auth(refresh_interval=None)
    class Bearer:
        def get(self, case: schemathesis.Case, context: Any) -> str | None:
            if not case.operation.definition.raw.get("security"):
                return None  # public routes and login
            return identities.token(identities.who(case.method, case.path))

        def set(self, case: schemathesis.Case, token: str, context: Any) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}

    @schema.hook
    def flatmap_case(context: Any, case: schemathesis.Case) -> Any:
        """Valid requests on a path naming a task, a file or a user go, some of the time, to one
        that exists, so they reach the logic behind the 404."""
        if case.meta is None or not case.meta.generation.mode.is_positive:
            return st.just(case)
        if case.method == "POST" and case.path == "/api/v1/tasks" and isinstance(case.body, dict):
            # A lead agency that exists (the run's own) and a deadline, so tasks get created and the
            # links from a created task (read, history, actions) are followed.
            real = {"lead_agency": seeds["agency"], "coordinating_agencies": [], "deadline": "2027-12"}
            return st.sampled_from([{}, real]).map(functools.partial(_with_body, case))
        if not case.path_parameters:
            return st.just(case)
        known = []
        if "sha256" in case.path_parameters:
            known = [{"code": evidence[0], "sha256": evidence[1]}]
        elif "code" in case.path_parameters:
            known = [{"code": code} for code in codes]
        elif "username" in case.path_parameters:
            known = [{"username": people["target"]}]
        return st.sampled_from([{}, *known]).map(functools.partial(_with_path, case))

    lines, failures, examples = _fuzz(schema, bridge, started)
    stateful, stateful_failures = _stateful(schema, bridge)
    elapsed = time.monotonic() - started
    operations = sum(1 for _ in schema.get_all_operations())
    lines = [*lines, stateful,
             f"schemathesis: {operations} operations, {examples} examples (+ the stateful sequences), "
             f"{bridge.requests} requests, {len(bridge.server_errors)} server errors, "
             f"{len(failures) + len(stateful_failures)} failures, {elapsed:.1f} s"]
    # A 5xx fails the run even where the document allows it (a 503 from a stack that is up is a fault).
    server_errors = [f"server error: {error}" for error in bridge.server_errors]
    return lines, failures + stateful_failures + server_errors


def _with_body(case: schemathesis.Case, chosen: dict[str, Any]) -> schemathesis.Case:
    if chosen:
        case.body = {**case.body, **chosen}
    return case


def _with_path(case: schemathesis.Case, chosen: dict[str, str]) -> schemathesis.Case:
    if chosen:
        case.path_parameters = {**case.path_parameters, **chosen}
    return case


