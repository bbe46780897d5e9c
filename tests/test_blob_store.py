"""The evidence stores of services/blobs.py, each the same way: the folder, and an S3-compatible bucket
(moto's server, on loopback). A file is kept under its SHA-256, once; what the folder refuses the
bucket refuses with the same code; a file reads back whole; a changed or missing one is told."""

import dataclasses
import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from starlette.datastructures import UploadFile

from domain.refusals import Code, Refusal
from domain.task import EvidenceFile
from services.blobs import BlobStore, EvidenceStore, S3BlobStore, open_blob_store
from settings import Settings
from tests.helpers import Stack, app_of, assigned, ok, post_action

BUCKET = "nq57-evidence"
REGION = "us-east-1"
PDF = b"%PDF-1.4\n" + "Biên bản nghiệm thu không gian làm việc số\n".encode() * 20
PDF_SHA = hashlib.sha256(PDF).hexdigest()


def upload(filename: str, content: bytes) -> UploadFile:
    """What a form gives for one file."""
    return UploadFile(io.BytesIO(content), filename=filename)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 on a loopback port of the system's choosing (port 0: never one that free_port hands
    out), with a bucket, and credentials of its own in the AWS_* variables while the module runs."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                            ("AWS_DEFAULT_REGION", REGION)):
            env.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            boto3.client("s3", endpoint_url=endpoint, region_name=REGION).create_bucket(Bucket=BUCKET)
            yield endpoint
        finally:
            server.stop()


@dataclass
class Kept:
    """A store as the application opens it, and what it keeps as seen beside it (a folder's files, a
    bucket's keys): where a file of that SHA-256 should be, what is there, and a way to change it."""

    store: EvidenceStore
    incoming: Path  # where files wait on this machine: empty between calls
    where: Callable[[str], str]
    names: Callable[[], list[str]]
    read: Callable[[str], bytes]
    write: Callable[[str, bytes], None]

    def leftovers(self) -> list[Path]:
        return list(self.incoming.iterdir())


def _folder(tmp_path: Path) -> Kept:
    settings = Settings(data_dir=tmp_path, max_upload_mb=1)
    root = settings.blob_dir

    def names() -> list[str]:
        return sorted(str(path.relative_to(root)) for path in root.rglob("*")
                      if path.is_file() and path.parent.name != "incoming")

    def write(where: str, content: bytes) -> None:
        (root / where).write_bytes(content)

    return Kept(store=open_blob_store(settings), incoming=root / "incoming", where=lambda sha: f"{sha[:2]}/{sha}",
                names=names, read=lambda where: (root / where).read_bytes(), write=write)


def _bucket(tmp_path: Path, endpoint: str) -> Kept:
    prefix = f"evidence/{uuid.uuid4().hex[:8]}"  # each test its own part of the bucket
    settings = Settings(data_dir=tmp_path, max_upload_mb=1, blob_store=f"s3://{BUCKET}/{prefix}/",
                        s3_endpoint_url=endpoint, s3_region=REGION)
    client = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)

    def names() -> list[str]:
        return sorted(item["Key"] for item in client.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))

    def read(key: str) -> bytes:
        return bytes(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def write(key: str, content: bytes) -> None:
        client.put_object(Bucket=BUCKET, Key=key, Body=content)

    return Kept(store=open_blob_store(settings), incoming=settings.blob_dir / "incoming",
                where=lambda sha: f"{prefix}/{sha[:2]}/{sha}", names=names, read=read, write=write)


@pytest.fixture(params=["folder", "s3"])
def kept(request: pytest.FixtureRequest, tmp_path: Path) -> Kept:
    if request.param == "folder":
        return _folder(tmp_path)
    return _bucket(tmp_path, request.getfixturevalue("s3_endpoint"))


async def test_a_file_is_kept_under_its_sha256(kept: Kept) -> None:
    file = await kept.store.save(upload("../Biên bản.pdf", PDF))
    assert file == EvidenceFile(sha256=PDF_SHA, filename="Biên bản.pdf", size=len(PDF), content_type="application/pdf")
    assert kept.names() == [kept.where(PDF_SHA)]
    assert kept.read(kept.where(PDF_SHA)) == PDF
    assert kept.leftovers() == []


def test_the_bucket_key_is_the_prefix_then_the_folders_layout(tmp_path: Path, s3_endpoint: str) -> None:
    bucket = _bucket(tmp_path, s3_endpoint)
    assert isinstance(bucket.store, S3BlobStore)
    assert bucket.where(PDF_SHA) == f"{bucket.store.prefix}/{PDF_SHA[:2]}/{PDF_SHA}"
    assert bucket.store.key(PDF_SHA) == bucket.where(PDF_SHA)


async def test_the_same_content_is_kept_once(kept: Kept) -> None:
    first = await kept.store.save(upload("bien-ban.pdf", PDF))
    second = await kept.store.save(upload("ban-sao.pdf", PDF))
    assert (first.sha256, second.sha256, second.filename) == (PDF_SHA, PDF_SHA, "ban-sao.pdf")
    assert kept.names() == [kept.where(PDF_SHA)]
    assert kept.leftovers() == []


async def test_saving_again_repairs_a_changed_object_and_asks_nothing_first(tmp_path: Path,
                                                                              s3_endpoint: str) -> None:
    """No HEAD before the PUT (it would need s3:ListBucket to tell a missing object from a forbidden
    one): the name is the content's hash, so putting it again is putting the same file."""
    bucket = _bucket(tmp_path, s3_endpoint)
    assert isinstance(bucket.store, S3BlobStore)
    asked: list[Any] = []
    bucket.store.client.meta.events.register("before-call.s3.HeadObject", lambda **kwargs: asked.append(kwargs))
    await bucket.store.save(upload("bien-ban.pdf", PDF))
    bucket.write(bucket.where(PDF_SHA), PDF + b"!")
    await bucket.store.save(upload("ban-sao.pdf", PDF))
    assert bucket.read(bucket.where(PDF_SHA)) == PDF
    assert asked == []


@pytest.mark.parametrize(("filename", "content", "code"), [
    ("chuong-trinh.exe", b"MZ\x90\x00", Code.FILE_TYPE),
    ("bien-ban.pdf", b"<html>not a pdf</html>", Code.FILE_CONTENT_MISMATCH),
    ("anh.heic", b"\x00\x00\x00\x18ftypmp42", Code.FILE_CONTENT_MISMATCH),  # a film renamed .heic
    ("so-lieu.csv", b"xa,so\n" * 200_000, Code.FILE_TOO_LARGE),  # 1.2 MB over a limit of 1 MB
    ("trong.pdf", b"", Code.FILE_EMPTY),
])
async def test_what_is_refused_is_refused_alike_and_not_kept(kept: Kept, filename: str, content: bytes,
                                                             code: Code) -> None:
    with pytest.raises(Refusal) as refused:
        await kept.store.save(upload(filename, content))
    assert refused.value.code == code
    assert refused.value.params["filename"] == filename
    assert kept.names() == [] and kept.leftovers() == []


async def test_a_kept_file_reads_back_whole_and_hashes_to_its_name(kept: Kept) -> None:
    await kept.store.save(upload("bien-ban.pdf", PDF))
    fetched = await kept.store.fetch(PDF_SHA)
    assert fetched is not None
    assert (fetched.sha256, fetched.path.read_bytes()) == (PDF_SHA, PDF)
    assert await kept.store.sha256_of(PDF_SHA) == PDF_SHA
    fetched.discard()
    assert kept.leftovers() == []  # a bucket's copy is gone once served
    assert kept.read(kept.where(PDF_SHA)) == PDF  # the kept file is not


async def test_a_changed_file_no_longer_hashes_to_its_name(kept: Kept) -> None:
    await kept.store.save(upload("bien-ban.pdf", PDF))
    changed = PDF.replace(b"1.4", b"1.7")
    kept.write(kept.where(PDF_SHA), changed)
    fetched = await kept.store.fetch(PDF_SHA)
    assert fetched is not None
    assert fetched.sha256 == hashlib.sha256(changed).hexdigest() != PDF_SHA
    fetched.discard()
    assert await kept.store.sha256_of(PDF_SHA) == hashlib.sha256(changed).hexdigest()
    assert kept.leftovers() == []


async def test_a_missing_file_is_not_found(kept: Kept) -> None:
    await kept.store.save(upload("bien-ban.pdf", PDF))
    missing = hashlib.sha256(b"never stored").hexdigest()
    assert await kept.store.fetch(missing) is None
    assert await kept.store.sha256_of(missing) is None
    assert kept.leftovers() == []


def test_the_setting_picks_the_store(tmp_path: Path) -> None:
    folder = open_blob_store(Settings(data_dir=tmp_path))
    assert isinstance(folder, BlobStore) and folder.root == tmp_path / "blobs"
    bucket = open_blob_store(Settings(data_dir=tmp_path, blob_store="s3://nq57/minh-chung/2025/",
                                      s3_endpoint_url="http://127.0.0.1:9", s3_region=REGION))
    assert isinstance(bucket, S3BlobStore)
    assert (bucket.bucket, bucket.prefix) == ("nq57", "minh-chung/2025")
    assert bucket.key(PDF_SHA) == f"minh-chung/2025/{PDF_SHA[:2]}/{PDF_SHA}"
    at_root = open_blob_store(Settings(data_dir=tmp_path, blob_store="s3://nq57", s3_region=REGION))
    assert isinstance(at_root, S3BlobStore) and at_root.key(PDF_SHA) == f"{PDF_SHA[:2]}/{PDF_SHA}"


@pytest.mark.parametrize("where", ["/srv/nq57/blobs", "file:///srv/blobs", "s3://", "s3:bucket", "gs://bucket/x",
                                   "s3://bucket/x?region=hn"])
def test_an_unknown_store_stops_the_start_saying_what_to_write(tmp_path: Path, where: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        open_blob_store(Settings(data_dir=tmp_path, blob_store=where))
    assert "NQ57_BLOB_STORE cần để trống hoặc có dạng s3://bucket/tiền-tố" in str(stopped.value)
    assert repr(where) in str(stopped.value)


async def test_evidence_goes_to_the_bucket_and_comes_back_through_the_api(stack: Stack, s3_endpoint: str) -> None:
    """The API on an S3 store (NQ57_BLOB_STORE): an upload is kept in the bucket under its SHA-256,
    served back whole, and refused once the object was changed behind the API's back."""
    state = app_of(stack).state
    settings = Settings(data_dir=stack.settings.data_dir, max_upload_mb=1, blob_store=f"s3://{BUCKET}/e2e",
                        s3_endpoint_url=s3_endpoint, s3_region=REGION)
    kept, state.ctx = state.ctx, dataclasses.replace(state.ctx, blobs=open_blob_store(settings))
    try:
        code = await assigned(stack, "S3", title="Minh chứng trong kho S3")
        ok(await post_action(stack, "hni.head", code, "accept"))
        content = PDF + code.encode()
        sha = hashlib.sha256(content).hexdigest()
        ok(await stack.http.post(f"/api/v1/tasks/{code}/actions/evidence.submit", headers=await stack.login("hni.head"),
                                 files=[("files", ("bien-ban.pdf", content, "application/pdf"))],
                                 data={"summary": "Biên bản", "kpi_results": "{}"}))
        bucket = boto3.client("s3", endpoint_url=s3_endpoint, region_name=REGION)
        assert bucket.get_object(Bucket=BUCKET, Key=f"e2e/{sha[:2]}/{sha}")["Body"].read() == content
        url = f"/api/v1/tasks/{code}/evidence/{sha}"
        served = await stack.http.get(url, headers=await stack.login("auditor"))
        assert served.status_code == 200 and served.content == content
        bucket.put_object(Bucket=BUCKET, Key=f"e2e/{sha[:2]}/{sha}", Body=content + b"!")
        changed = await stack.http.get(url, headers=await stack.login("auditor"))
        assert changed.status_code == 409 and changed.json()["code"] == Code.EVIDENCE_CHANGED.value
        # The shared stack keeps its files in its folder: this one too, for the tests that audit them all.
        await kept.blobs.save(upload("bien-ban.pdf", content))
    finally:
        state.ctx = kept
