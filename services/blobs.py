"""Content-addressed storage of evidence files: the name of a file is its SHA-256, so a file is
stored once, cannot be swapped unseen, and no client-made name is used.

Two stores keep them, chosen by NQ57_BLOB_STORE (`open_blob_store`): a folder every process shares
(NQ57_DATA_DIR/blobs, the default) or an S3-compatible bucket (`s3://bucket/prefix`). Both check an
upload the same way (`_received`), name a file the same way (`sha[:2]/sha`), and answer what their
content hashes to now, so a changed or missing file is found whichever keeps it."""

import asyncio
import contextlib
import hashlib
import os
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

from botocore.exceptions import ClientError
from starlette.datastructures import UploadFile  # what forms give; FastAPI's is a subclass

from domain.refusals import Code, Refusal
from domain.task import EvidenceFile
from settings import Settings

ALLOWED_TYPES = {
    ".pdf": "application/pdf",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".json": "application/json",
    ".xml": "application/xml",
    ".zip": "application/zip",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".heic": "image/heic",  # a phone's photos (iPhones take them so)
    ".heif": "image/heif",
}
MAX_FILES = 20
_CHUNK = 1024 * 1024
_ZIP, _OLE = (b"PK\x03\x04",), (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)
# What a file of each type begins with: the extension alone does not make a PDF.
MAGIC: dict[str, tuple[bytes, ...]] = {
    ".pdf": (b"%PDF",), ".png": (b"\x89PNG\r\n\x1a\n",), ".jpg": (b"\xff\xd8\xff",), ".jpeg": (b"\xff\xd8\xff",),
    ".docx": _ZIP, ".xlsx": _ZIP, ".pptx": _ZIP, ".odt": _ZIP, ".ods": _ZIP, ".zip": _ZIP,
    ".doc": _OLE, ".xls": _OLE, ".ppt": _OLE,
}
TEXT_TYPES = {".csv", ".txt", ".json", ".xml"}
# A HEIF photo is an ISO base media file: a box of type `ftyp` first (its size in bytes 0-3), whose
# major brand (bytes 8-11) names the image kind. Brands of video files (`isom`, `mp42`, `qt  `…) are not
# photos, so a film renamed .heic is refused like any other mismatch.
HEIF_TYPES = {".heic", ".heif"}
HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"mif1", b"heif"})


def content_fits(suffix: str, head: bytes) -> bool:
    """Whether the file's first bytes are what its extension says it is."""
    if suffix in TEXT_TYPES:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as error:  # a cut in the middle of a character at the end is fine
            if error.start < len(head) - 3:
                return False
        return b"\x00" not in head
    if suffix in HEIF_TYPES:
        return head[4:8] == b"ftyp" and head[8:12] in HEIF_BRANDS
    return head.startswith(MAGIC[suffix])


def safe_filename(name: str | None) -> str:
    """The file's own name without any folder part, as shown to people; never used as a path."""
    base = PurePath((name or "").replace("\\", "/")).name.strip().lstrip(".")
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"|?*')
    return cleaned[-200:] or "tep-dinh-kem"


@dataclass(frozen=True)
class Fetched:
    """A stored file as read just now: `path` holds the bytes that hashed to `sha256`, which the caller
    compares with the name it asked for. A `temporary` copy (a bucket's file, brought here to be checked
    whole before it is served) is removed by `discard`; a folder's own file is left where it is."""

    path: Path
    sha256: str
    temporary: bool = False

    def discard(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


class EvidenceStore(Protocol):
    """What the application asks of a store of evidence files (`open_blob_store` gives one)."""

    async def save(self, upload: UploadFile) -> EvidenceFile:
        """Check the upload (type, content, size), keep it under its SHA-256, and describe it."""
        ...

    async def fetch(self, sha256: str) -> Fetched | None:
        """The file stored under that name, read now, with what it hashes to; None when there is none."""
        ...

    async def sha256_of(self, sha256: str) -> str | None:
        """What the file stored under that name hashes to now (the audit's check); None when there is none."""
        ...


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file on this machine; None when there is no such file."""
    if not path.is_file():
        return None
    with path.open("rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


@contextlib.asynccontextmanager
async def _received(upload: UploadFile, max_bytes: int, incoming: Path) -> AsyncIterator[tuple[Path, EvidenceFile]]:
    """The upload written to a file in `incoming` while it is hashed and checked — an allowed type,
    content that is what its extension says, not empty, not over `max_bytes` — the one place these rules
    live, whichever store keeps the file. The file is removed afterwards unless the store moved it."""
    filename = safe_filename(upload.filename)
    suffix = Path(filename).suffix.lower()
    content_type = ALLOWED_TYPES.get(suffix)
    if content_type is None:
        raise Refusal(Code.FILE_TYPE, filename=filename, allowed=", ".join(sorted(ALLOWED_TYPES)))
    digest, size = hashlib.sha256(), 0
    fd, temp_name = tempfile.mkstemp(dir=incoming)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(_CHUNK):
                if size == 0 and not content_fits(suffix, chunk):
                    raise Refusal(Code.FILE_CONTENT_MISMATCH, filename=filename)
                size += len(chunk)
                if size > max_bytes:
                    raise Refusal(Code.FILE_TOO_LARGE, filename=filename, max_mb=max_bytes // (1024 * 1024))
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise Refusal(Code.FILE_EMPTY, field="files", filename=filename)
        yield Path(temp_name), EvidenceFile(sha256=digest.hexdigest(), filename=filename, size=size,
                                            content_type=content_type)
    finally:
        with contextlib.suppress(FileNotFoundError):  # moved into place, or never written
            os.unlink(temp_name)


class BlobStore:
    """Evidence files in a folder every process shares (NQ57_DATA_DIR/blobs), each at `root/sha[:2]/sha`.
    An upload waits in `root/incoming`, on the same filesystem, and is moved into place whole: a file is
    never seen half-written. (Its name is older than the S3 store's.)"""

    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        (root / "incoming").mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def save(self, upload: UploadFile) -> EvidenceFile:
        async with _received(upload, self.max_bytes, self.root / "incoming") as (temp, file):
            target = self._path(file.sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp, target)
        return file

    async def fetch(self, sha256: str) -> Fetched | None:
        path = self._path(sha256)
        digest = await asyncio.to_thread(file_sha256, path)
        return None if digest is None else Fetched(path, digest)

    async def sha256_of(self, sha256: str) -> str | None:
        return await asyncio.to_thread(file_sha256, self._path(sha256))


class S3BlobStore:
    """Evidence files in an S3-compatible bucket, under the folder store's names behind a prefix:
    `prefix/sha[:2]/sha`. An upload waits in `incoming` on this machine while it is checked and hashed,
    then goes to the bucket under its hash (put again when it is there: the same content). boto3
    blocks, so each call runs in a thread; its one client serves every request."""

    def __init__(self, client: Any, bucket: str, prefix: str, max_bytes: int, incoming: Path):
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.max_bytes = max_bytes
        self.incoming = incoming
        incoming.mkdir(parents=True, exist_ok=True)

    def key(self, sha256: str) -> str:
        return "/".join(part for part in (self.prefix, sha256[:2], sha256) if part)

    async def save(self, upload: UploadFile) -> EvidenceFile:
        async with _received(upload, self.max_bytes, self.incoming) as (temp, file):
            # Put even when there: the name is the content's hash, so it is the same file (or repairs a
            # changed one), and a HEAD first would need s3:ListBucket to tell "missing" from "forbidden".
            await asyncio.to_thread(self._put, temp, self.key(file.sha256))
        return file

    async def fetch(self, sha256: str) -> Fetched | None:
        """The object is copied here whole while it is hashed: whether it is served (200) or refused as
        changed (409) depends on all of it, and the copy is what is then served, not a second read."""
        fd, temp_name = tempfile.mkstemp(dir=self.incoming)
        digest = None
        try:
            with os.fdopen(fd, "wb") as out:
                digest = await asyncio.to_thread(self._read, self.key(sha256), out)
        finally:
            if digest is None:  # no such object, or the read failed
                os.unlink(temp_name)
        return None if digest is None else Fetched(Path(temp_name), digest, temporary=True)

    async def sha256_of(self, sha256: str) -> str | None:
        return await asyncio.to_thread(self._read, self.key(sha256), None)

    def _put(self, path: Path, key: str) -> None:
        with path.open("rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body)

    def _read(self, key: str, out: BinaryIO | None) -> str | None:
        """The object's SHA-256, copying it into `out` as it comes; None when there is no such object."""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=key)["Body"]
        except ClientError as error:
            if _no_such_object(error):
                return None
            raise
        digest = hashlib.sha256()
        with contextlib.closing(body):
            for chunk in body.iter_chunks(_CHUNK):
                digest.update(chunk)
                if out is not None:
                    out.write(chunk)
        return digest.hexdigest()


def _no_such_object(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}


def open_blob_store(settings: Settings) -> EvidenceStore:
    """The store NQ57_BLOB_STORE names: empty, the blobs folder; `s3://bucket/prefix`, that bucket, at
    NQ57_S3_ENDPOINT_URL (AWS when empty), with boto3's own credentials (the AWS_* variables first).
    Anything else stops the process at start, saying what to write."""
    max_bytes = settings.max_upload_mb * 1024 * 1024
    where = settings.blob_store.strip()
    if not where:
        return BlobStore(settings.blob_dir, max_bytes)
    url = urlsplit(where)
    if url.scheme != "s3" or not url.netloc or url.query or url.fragment:
        raise SystemExit(f"NQ57_BLOB_STORE cần để trống hoặc có dạng s3://bucket/tiền-tố (đang là {where!r})")
    import boto3  # only here: a tenth of a second to import, for S3 alone
    from botocore.config import Config

    endpoint = settings.s3_endpoint_url.strip() or None
    config = Config(retries={"mode": "standard"}) if endpoint is None else Config(
        retries={"mode": "standard"},
        s3={"addressing_style": "path"},  # `endpoint/bucket/key`: no DNS name per bucket on MinIO, Ceph…
        # boto3 1.36+ adds checksum headers that many S3-compatible stores refuse; only what they require.
        # The content is checked anyway: by its SHA-256, on every read.
        request_checksum_calculation="when_required", response_checksum_validation="when_required")
    client = boto3.session.Session().client("s3", endpoint_url=endpoint, region_name=settings.s3_region or None,
                                           config=config)
    return S3BlobStore(client, url.netloc, url.path, max_bytes, settings.blob_dir / "incoming")
