"""Proof that the API authorized an action. Temporal's frontend has no authorization of its own:
anyone who reaches it could send the `act` update with any actor. So the API, having decided the
policy, signs what it decided — the task, the update id, the actor and the command — with a key
it shares with the workers (derived from NQ57_SECRET_KEY), and the workflow's validator refuses an
action whose proof does not hold, before it enters history."""

import hashlib
import hmac
import json
from typing import Any

from domain.actors import Actor


def derive_key(secret: str) -> bytes:
    """The proof key, apart from the token-signing use of the same secret."""
    return hmac.new(secret.encode(), b"nq57/workflow-action-proof/v1", hashlib.sha256).digest()


def _content(code: str, update_id: str, actor: Actor, command: dict[str, Any]) -> bytes:
    return json.dumps({"task": code, "update": update_id, "actor": actor.model_dump(mode="json"),
                       "command": command}, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def sign(key: bytes, code: str, update_id: str, actor: Actor, command: dict[str, Any]) -> str:
    """`command` as `model_dump(mode="json")` gives it."""
    return hmac.new(key, _content(code, update_id, actor, command), hashlib.sha256).hexdigest()


def holds(key: bytes | None, proof: str, code: str, update_id: str, actor: Actor, command: dict[str, Any]) -> bool:
    return key is not None and hmac.compare_digest(proof, sign(key, code, update_id, actor, command))
