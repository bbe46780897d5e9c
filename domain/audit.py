"""The hash chain of a task's events: each event's hash covers its content and the previous hash,
so changing, removing or reordering one event breaks every hash after it."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from domain.events import Event, RecordedEvent

GENESIS = "0" * 64


def event_hash(prev_hash: str, task_code: str, seq: int, type_: str, actor: str, at: datetime, data: Any) -> str:
    moment = at.astimezone(UTC).isoformat()
    content = json.dumps(
        {"task": task_code, "seq": seq, "type": type_, "actor": actor, "at": moment, "data": data},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


def chained(prev_hash: str, task_code: str, event: Event, request_id: str | None,
            fingerprint: str = "") -> RecordedEvent:
    """The event as recorded: linked to the previous one by its hash."""
    return RecordedEvent(**event.model_dump(), request_id=request_id, fingerprint=fingerprint, prev_hash=prev_hash,
                         hash=event_hash(prev_hash, task_code, event.seq, event.type, event.actor, event.at,
                                         event.data))
