"""One workflow per task (id `task-<code>`): the source of truth for the task's state.

It only decides. Every action arrives as the `act` update; its validator refuses what the
lifecycle forbids before it enters history, and the handler records the event through an
activity before it answers, so the caller sees the new state. Between actions the workflow sleeps
until the next open deadline's escalation falls due (domain/escalation.py), records it, and has
the people at that level told."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, FailureError, WorkflowAlreadyStartedError

with workflow.unsafe.imports_passed_through():
    from activities.closures import closure_proven
    from activities.notifications import Mail, Notice, NotificationActivities, RecordAndTell, Told
    from activities.projection import EventRecord, ProjectionActivities, Rebuild
    from domain.actors import Actor
    from domain.audit import GENESIS, chained
    from domain.commands import ActionRequest, SubtaskCreate
    from domain.deadlines import parse_deadline
    from domain.escalation import (
        Escalation,
        Reminder,
        due_escalations,
        due_reminders,
        escalate,
        next_wake,
        notice_text,
        remind,
        reminder_text,
    )
    from domain.events import ChainHead, Event, Happening, Recorded, RecordedEvent, SubtaskClosure
    from domain.lifecycle import RULES, TaskRuleError, apply, part_spec, subtask_closed
    from domain.refusals import Code
    from domain.stages import CLOSED_STAGES, Stage
    from domain.task import TaskState
    from workflows import trust
    from workflows.start import Delivery, TaskStart

# The change that gave each deadline its owner: a lapsed review's first level tells the reviewer, no
# longer the lead agency (domain/escalation.py, `Escalation.retold`).
OWNERS_PATCH = "deadline-owners"
# The change that starts a mail or webhook delivery only when one is configured (`Told`): 10,000
# deadlines lapsing together no longer run 10,000 webhook activities that have nowhere to post.
TOLD_PATCH = "deliveries-when-configured"
# The change that records an escalation's (or a reminder's) event and writes its in-app notices in
# one activity, not two (`_record_and_tell`).
RECORD_AND_TELL_PATCH = "record-and-tell-together"
# The change that keeps the timer of the next escalation or reminder while actions come and go, and
# starts another only when that instant moves (`_sleep_until_something_happens`): an action used to
# cancel it and start it again, two more events in history and two more timer writes in Temporal.
KEPT_TIMER_PATCH = "timer-kept-across-actions"
RECORD_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10))
# Mail and webhooks keep trying for days at a slow pace: a server that is down only delays them.
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=5), maximum_interval=timedelta(minutes=30))
DELIVERY_WINDOW = timedelta(days=3)
# A closed task still takes comments for a while; after that quiet period the workflow ends.
CLOSED_QUIET_PERIOD = timedelta(days=30)
# A fence orders the recording attempts of one task: later runs, and later workflow tasks of a run,
# weigh more. A run's history stays far below this many events (Temporal stops at 51,200).
FENCE_PER_RUN = 1_000_000


def workflow_id(code: str) -> str:
    return f"task-{code}"


def _update_id() -> str:
    """The id of the update being handled (the client's Idempotency-Key, or one the API made)."""
    info = workflow.current_update_info()
    assert info is not None, "asked only inside an update's handler or validator"
    return info.id


def _notice(state: TaskState, event: Event, what: Escalation | Reminder, subject: str, body: str) -> Notice:
    """What telling an escalation or a reminder (`event`, which brought the task to `state`) says, and
    to whom. A reminder is told at level 0: it is no escalation."""
    return Notice(task_code=state.code, event_seq=event.seq, level=what.level if isinstance(what, Escalation) else 0,
                  audience=what.audience, reviewer=state.reviewer, lead_agency=state.lead_agency,
                  officer=state.officer, directing_agency=state.spec.directing_agency,
                  subject=subject, body=body, data=event.data)


def rule_error(error: TaskRuleError) -> ApplicationError:
    """The failure the API answers with the rule's refusal (services/workflows.py; its status is
    api/errors.py's STATUS of the code). The two types name the kind of rule, for logs."""
    return ApplicationError(str(error), error.details(), non_retryable=True,
                            type="StageConflict" if error.conflict else "RuleViolation")


@workflow.defn
class TaskLifecycleWorkflow:
    @workflow.init
    def __init__(self, start: TaskStart) -> None:
        now = workflow.now()
        self.state = start.state or TaskState(
            spec=start.spec, lead_agency=start.spec.lead_agency,
            coordinating_agencies=start.spec.coordinating_agencies,
            deadline=start.deadline, deadline_text=start.spec.deadline, original_deadline=start.deadline,
            overdue=start.deadline is not None and start.deadline < now,
            created_at=now, updated_at=now, settings=start.settings,
            parent=start.parent, overseers=start.overseers,
        )
        if workflow.patched("results-rules"):  # a run started since; a history recorded before replays as it was
            self.state.rules = RULES
        self.lock = asyncio.Lock()
        self.log: list[RecordedEvent] = list(start.log)  # what this task recorded: the anchor of its chain
        self.generation = start.generation
        self.undelivered: dict[int, Delivery] = {}
        self.deliveries_started = 0
        # What the validator decided, by update id: the handler takes it when the task and the clock are
        # still those it was decided on (the same activation), rather than deciding again. Not kept in
        # history: a replay (which runs no validator) decides in the handler, on the same state and time.
        self.decided: dict[str, tuple[TaskState, datetime, tuple[TaskState, Event]]] = {}
        # The timer of the next escalation or reminder, and the instant it ends at (KEPT_TIMER_PATCH).
        self.timer: asyncio.Task[None] | None = None
        self.timer_at: datetime | None = None

    @workflow.run
    async def run(self, start: TaskStart) -> TaskState:
        if self.state.seq == 0:
            async with self.lock:
                await self._record_created(start.created_by, start.request_id)
        elif not self.log and workflow.patched("chain-head-for-a-run-without-log"):
            async with self.lock:  # handed over by a version that carried no log: continue the chain
                head = await workflow.execute_local_activity_method(
                    ProjectionActivities.chain_head, self.state.code,
                    start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORD_RETRY)
                self.log = [head] if head is not None else []
        for delivery in start.deliveries:
            self._deliver(delivery)
        while self.state.stage not in CLOSED_STAGES:
            async with self.lock:
                await self._escalate_what_is_due()
            if workflow.info().is_continue_as_new_suggested():
                await self._continue_as_new(start)
            await self._sleep_until_something_happens()
        if self.timer is not None:
            self.timer.cancel()
        await self._tell_parent()
        await self._quiet_after_closing()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self.state

    @workflow.update
    async def act(self, request: ActionRequest) -> TaskState:
        await workflow.wait_condition(lambda: self.state.seq > 0)
        async with self.lock:
            decided = self.decided.pop(_update_id(), None)
            if self._already_recorded():
                return self.state
            try:
                new_state, event = self._decision(request, decided)
            except TaskRuleError as error:  # the state moved on while this update waited for the lock
                raise rule_error(error) from None
            if isinstance(request.command, SubtaskCreate):
                await self._start_subtask(request.command, request.actor)
            await self._record(new_state, event, _update_id(), request.fingerprint)
            self.state = new_state
            return new_state

    @act.validator
    def validate_act(self, request: ActionRequest) -> None:
        if self._already_recorded():
            return
        if not request.proven(trust.key(), self.state.code, _update_id()):
            raise ApplicationError("unproven_action", {"code": "unproven_action"}, type="Unproven",
                                   non_retryable=True)  # the API says it: services/workflows.py
        if request.seq is not None and request.seq != self.state.seq:  # decided on a projection behind
            raise ApplicationError("stale_decision", type="Stale", non_retryable=True)
        try:
            self.decided[_update_id()] = (self.state, workflow.now(), self._decision(request, None))
        except TaskRuleError as error:
            raise rule_error(error) from None

    def _decision(self, request: ActionRequest,
                  decided: tuple[TaskState, datetime, tuple[TaskState, Event]] | None) -> tuple[TaskState, Event]:
        """The action applied to the task now: what the validator `decided` when the task and the clock
        are still those it decided on (the same activation), else decided afresh."""
        if decided is not None and decided[0] is self.state and decided[1] == workflow.now():
            return decided[2]
        return apply(self.state, request, workflow.now())

    @workflow.signal
    async def subtask_closed(self, closure: SubtaskClosure) -> None:
        """A sub-task of this task closed: recorded once; the task's evidence waits for none but open
        ones. Whether the word is the sub-task's own is an activity's verdict, kept in history."""
        await workflow.wait_condition(lambda: self.state.seq > 0)
        async with self.lock:
            if (closure.parent != self.state.code or closure.code not in self.state.subtasks
                    or closure.code in self.state.closed_subtasks):
                return
            proven = await workflow.execute_local_activity(
                closure_proven, closure, start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORD_RETRY)
            if not proven:
                workflow.logger.warning("Bỏ qua tin báo đóng %s không có chữ ký hợp lệ", closure.code)
                return
            new_state, event = subtask_closed(self.state, closure.code, Stage(closure.stage), workflow.now())
            await self._record(new_state, event, None)
            self.state = new_state

    async def _start_subtask(self, command: SubtaskCreate, actor: Actor) -> None:
        """The sub-task's own workflow, started before its creation is recorded here (a code already
        taken is refused, nothing recorded). It outlives this run (continue-as-new, closing)."""
        state = self.state
        begin = TaskStart(spec=part_spec(state, command),
                          deadline=parse_deadline(command.deadline, state.settings.timezone),
                          created_by=actor.username, settings=state.settings, parent=state.code,
                          overseers=[state.lead_agency, *state.overseers])
        try:
            await workflow.start_child_workflow(
                TaskLifecycleWorkflow.run, begin, id=workflow_id(command.code),
                parent_close_policy=workflow.ParentClosePolicy.ABANDON,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
        except WorkflowAlreadyStartedError:
            raise rule_error(TaskRuleError(Code.TASK_EXISTS, conflict=True, at=state.stage,
                                           task=command.code)) from None

    async def _tell_parent(self) -> None:
        """A closed sub-task tells the task it was split from (which may itself be gone: then nobody waits)."""
        if self.state.parent is None:
            return
        closure = SubtaskClosure(parent=self.state.parent, code=self.state.code,
                                 stage=self.state.stage.value).signed(trust.key())
        try:
            await workflow.get_external_workflow_handle(workflow_id(self.state.parent)).signal(
                TaskLifecycleWorkflow.subtask_closed, closure)
        except FailureError as error:
            workflow.logger.warning("Không báo được nhiệm vụ %s: %s", self.state.parent, error)

    @workflow.update
    async def snapshot(self) -> TaskState:
        """The state once the task's creation is recorded: what POST /tasks answers."""
        await workflow.wait_condition(lambda: self.state.seq > 0)
        return self.state

    @workflow.query
    def current(self) -> TaskState:
        return self.state

    @workflow.query
    def recorded(self, with_data: bool = False) -> Recorded:
        """Every event this task recorded, with its hash: what the projection must hold, and what
        audit verify compares it with. Without `with_data`, events come summarized (no content)."""
        return Recorded(state=self.state, events=self.log if with_data else [e.summary() for e in self.log])

    @workflow.query
    def head(self) -> ChainHead:
        return ChainHead(seq=self.state.seq, stage=self.state.stage.value,
                         hash=self.log[-1].hash if self.log else GENESIS)

    @workflow.update
    async def resync(self) -> int:
        """Rewrite this task's projection from its log: the catch-up after a crash and
        `nq57 projection rebuild`. The number of rows it changed."""
        await workflow.wait_condition(lambda: self.state.seq > 0)
        async with self.lock:
            return await self._rewrite_projection(self.state, self._fence())

    async def _rewrite_projection(self, state: TaskState, fence: int) -> int:
        return await workflow.execute_local_activity_method(
            ProjectionActivities.rebuild_projection, Rebuild(state=state, events=self.log, fence=fence),
            start_to_close_timeout=timedelta(seconds=60), retry_policy=RECORD_RETRY)

    def _fence(self) -> int:
        return self.generation * FENCE_PER_RUN + workflow.info().get_current_history_length()

    def _already_recorded(self) -> bool:
        """An update id an earlier run of this task recorded (Temporal itself answers a repeated
        id within one run, not across continue-as-new)."""
        update_id = _update_id()
        return any(event.request_id == update_id for event in self.log)

    async def _sleep_until_something_happens(self) -> None:
        """Until an action changes the task, the next escalation or reminder falls due, or history
        grows long."""
        seen, wake = self.state.seq, next_wake(self.state, workflow.now())
        timeout = max(wake - workflow.now(), timedelta(0)) if wake else None

        def something_happened() -> bool:
            return self.state.seq != seen or workflow.info().is_continue_as_new_suggested()

        if timeout and workflow.patched(KEPT_TIMER_PATCH):
            if wake != self.timer_at or self.timer is None or self.timer.done():
                if self.timer is not None:
                    self.timer.cancel()
                self.timer, self.timer_at = asyncio.create_task(workflow.sleep(timeout)), wake
            timer = self.timer
            await workflow.wait_condition(lambda: something_happened() or timer.done())
            return
        try:
            await workflow.wait_condition(something_happened, timeout=timeout)
        except TimeoutError:
            pass

    async def _escalate_what_is_due(self) -> None:
        """Record and tell every rise of a lapsed deadline's ladder, then every early warning due."""
        for rise in due_escalations(self.state, workflow.now()):
            if rise.retold and not workflow.patched(OWNERS_PATCH):
                rise = rise.model_copy(update={"before_owners": True})  # replaying a history recorded before
            new_state, event = escalate(self.state, rise, workflow.now())
            await self._record_and_tell(new_state, event, rise, *notice_text(new_state, rise))
        for reminder in due_reminders(self.state, workflow.now()):
            new_state, event = remind(self.state, reminder, workflow.now())
            await self._record_and_tell(new_state, event, reminder,
                                        *reminder_text(new_state, reminder, workflow.now()))

    async def _record_and_tell(self, state: TaskState, event: Event, what: Escalation | Reminder, subject: str,
                               body: str) -> None:
        """The event recorded and its notice's in-app rows written by one activity, in one transaction;
        mail and webhook, where configured, in the background, never awaited."""
        notice = _notice(state, event, what, subject, body)
        if not workflow.patched(RECORD_AND_TELL_PATCH):  # a history recorded before: two activities
            await self._record(state, event, None)
            self.state = state
            await self._tell(notice)
            return
        recorded, fence = self._chained(state, event, None)
        done = await workflow.execute_local_activity_method(
            NotificationActivities.record_and_tell, RecordAndTell(
                record=EventRecord(state=state, event=recorded, fence=fence), notice=notice),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORD_RETRY)
        await self._after_recording(state, recorded, fence, done.in_step)
        self.state = state
        self._deliver_what_is_left(done.told, notice)

    async def _tell(self, notice: Notice) -> None:
        """In-app rows now (the inbox shows them); mail and webhook, where configured, in the
        background, never awaited."""
        if workflow.patched(TOLD_PATCH):
            told = await workflow.execute_local_activity_method(
                NotificationActivities.tell_in_app, notice,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORD_RETRY)
        else:  # a history recorded before: every notice went to the webhook activity, configured or not
            emails = await workflow.execute_local_activity_method(
                NotificationActivities.notify_in_app, notice,
                start_to_close_timeout=timedelta(seconds=30), retry_policy=RECORD_RETRY)
            told = Told(mail_to=emails, webhook=True)
        self._deliver_what_is_left(told, notice)

    def _deliver_what_is_left(self, told: Told, notice: Notice) -> None:
        if told.mail_to:
            self._deliver(Delivery(mail=Mail(to=told.mail_to, subject=notice.subject, body=notice.body)))
        if told.webhook:
            self._deliver(Delivery(notice=notice))

    def _deliver(self, delivery: Delivery) -> None:
        """Start one delivery; it stays in `undelivered` until its activity is over."""
        key = self.deliveries_started
        self.deliveries_started += 1
        self.undelivered[key] = delivery
        if delivery.mail is not None:
            handle = workflow.start_activity_method(
                NotificationActivities.send_mail, delivery.mail,
                start_to_close_timeout=timedelta(minutes=1), schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY)
        else:
            assert delivery.notice is not None
            handle = workflow.start_activity_method(
                NotificationActivities.post_webhook, delivery.notice,
                start_to_close_timeout=timedelta(minutes=1), schedule_to_close_timeout=DELIVERY_WINDOW,
                retry_policy=DELIVERY_RETRY)
        handle.add_done_callback(lambda _done: self.undelivered.pop(key, None))

    async def _record_created(self, actor: str, request_id: str | None) -> None:
        state = self.state.model_copy(update={"seq": 1})
        split_from = {"parent": state.parent, "overseers": state.overseers} if state.parent else {}
        event = Event(seq=1, type=Happening.CREATED, actor=actor, at=state.created_at,
                      data=state.spec.model_dump(mode="json") | split_from)
        await self._record(state, event, request_id)
        self.state = state

    async def _record(self, state: TaskState, event: Event, request_id: str | None, fingerprint: str = "") -> None:
        """Write the event and the new state into the projection, before anyone is answered.

        The row may already hold an attempt that never became durable (its workflow task was lost
        with a crash): the projection replaces it, the fence telling a newer attempt from a stale
        one. When the rows below this one do not match the log, they are rewritten from it."""
        recorded, fence = self._chained(state, event, request_id, fingerprint)
        in_step = await workflow.execute_local_activity_method(
            ProjectionActivities.record_event,
            EventRecord(state=state, event=recorded, fence=fence),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RECORD_RETRY,
        )
        await self._after_recording(state, recorded, fence, in_step)

    def _chained(self, state: TaskState, event: Event, request_id: str | None,
                 fingerprint: str = "") -> tuple[RecordedEvent, int]:
        """The event as the log keeps it (chained to the one before), and this attempt's fence."""
        return (chained(self.log[-1].hash if self.log else GENESIS, state.code, event, request_id, fingerprint),
                self._fence())

    async def _after_recording(self, state: TaskState, recorded: RecordedEvent, fence: int, in_step: bool) -> None:
        """The event in the log; the projection rewritten from the log when its rows did not lead up to it."""
        self.log.append(recorded)
        if not in_step and workflow.patched("projection-rebuilt-from-log"):
            await self._rewrite_projection(state, fence)

    def _changed_since(self, seen: int) -> Callable[[], bool]:
        return lambda: self.state.seq != seen

    async def _quiet_after_closing(self) -> None:
        while True:
            seen = self.state.seq
            try:
                await workflow.wait_condition(self._changed_since(seen), timeout=CLOSED_QUIET_PERIOD)
            except TimeoutError:
                return

    async def _continue_as_new(self, start: TaskStart) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(start.model_copy(update={
            "state": self.state, "deliveries": list(self.undelivered.values()),
            "log": [event.summary() for event in self.log],
            "generation": self.generation + 1}))
