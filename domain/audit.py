"""The hash chain of a task's events: each event's hash covers its content and the previous hash,
so changing, removing or reordering one event breaks every hash after it."""

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

GENESIS = "0" * 64


def event_hash(prev_hash: str, task_code: str, seq: int, type_: str, actor: str, at: datetime, data: Any) -> str:
    moment = at.astimezone(UTC).isoformat()
    content = json.dumps(
        {"task": task_code, "seq": seq, "type": type_, "actor": actor, "at": moment, "data": data},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()
