"""The key this worker process checks action proofs with (domain/proof.py). worker.build_worker
sets it once; the workflow imports this module passed through its sandbox, so it reads the
process's value. It never enters a workflow's history."""

_key: bytes | None = None


def set_key(key: bytes) -> None:
    global _key
    _key = key


def key() -> bytes | None:
    return _key
