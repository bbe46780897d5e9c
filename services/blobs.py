"""Content-addressed storage of evidence files under NQ57_DATA_DIR/blobs: the name of a file is
its SHA-256, so a file is stored once, cannot be swapped unseen, and no client-made name is used."""

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path, PurePath

from starlette.datastructures import UploadFile  # what forms give; FastAPI's is a subclass

from domain.refusals import Code, Refusal
from domain.task import EvidenceFile

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


class BlobStore:
    def __init__(self, root: Path, max_bytes: int):
        self.root = root
        self.max_bytes = max_bytes
        (root / "incoming").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    async def save(self, upload: UploadFile) -> EvidenceFile:
        filename = safe_filename(upload.filename)
        content_type = ALLOWED_TYPES.get(Path(filename).suffix.lower())
        if content_type is None:
            allowed = ", ".join(sorted(ALLOWED_TYPES))
            raise Refusal(Code.FILE_TYPE, filename=filename, allowed=allowed)
        digest, size = hashlib.sha256(), 0
        fd, temp_name = tempfile.mkstemp(dir=self.root / "incoming")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await upload.read(_CHUNK):
                    if size == 0 and not content_fits(Path(filename).suffix.lower(), chunk):
                        raise Refusal(Code.FILE_CONTENT_MISMATCH, filename=filename)
                    size += len(chunk)
                    if size > self.max_bytes:
                        limit = self.max_bytes // (1024 * 1024)
                        raise Refusal(Code.FILE_TOO_LARGE, filename=filename, max_mb=limit)
                    digest.update(chunk)
                    out.write(chunk)
            if size == 0:
                raise Refusal(Code.FILE_EMPTY, field="files", filename=filename)
            sha256 = digest.hexdigest()
            target = self.path(sha256)
            target.parent.mkdir(exist_ok=True)
            os.replace(temp_name, target)
        finally:
            with contextlib.suppress(FileNotFoundError):  # moved into place, or never written
                os.unlink(temp_name)
        return EvidenceFile(sha256=sha256, filename=filename, size=size, content_type=content_type)
