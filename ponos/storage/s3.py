"""Storage on any S3-compatible endpoint, through boto3."""

import contextlib
from collections.abc import Iterable
from datetime import UTC

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ponos.storage.base import (
    ATTACHMENT,
    ObjectInfo,
    Segment,
    Storage,
    StorageError,
    disposition_header,
    served_content_type,
)

DEFAULT_REGION = "us-east-1"

# DeleteObjects accepts at most this many keys per request
DELETE_BATCH_SIZE = 1000

# Parts of a concatenation are uploaded once this many bytes were read (S3 needs 5 MiB at
# least for every part but the last); a concatenation holds at most one part in memory
PART_SIZE = 8 * 1024 * 1024
READ_CHUNK = 1024 * 1024

# Error codes S3 (and compatible stores) use for a missing object or bucket
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
# S3 answers 416 to a suffix range on an empty object instead of an empty body
EMPTY_RANGE_CODES = {"416", "InvalidRange"}


@contextlib.contextmanager
def translate_errors(action: str):
    """Re-raise every botocore failure as a StorageError naming what was attempted."""
    try:
        yield
    except (BotoCoreError, ClientError) as e:
        raise StorageError(f"Could not {action}: {e}") from e


def error_code(error: ClientError) -> str:
    """The S3 error code of a ClientError, e.g. ``NoSuchKey`` or ``404``."""
    return str(error.response.get("Error", {}).get("Code", ""))


class S3Storage(Storage):
    """
    Storage on an S3-compatible endpoint.

    The client signs with SigV4 and path-style addressing: virtual-host addressing needs DNS
    for every bucket, which S3-compatible stores (MinIO, Ceph, moto) seldom provide.
    """

    def __init__(
        self,
        *,
        artifacts_bucket: str,
        logs_bucket: str,
        url_expiry: int = 3600,
        endpoint: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        max_retries: int = 1,
        connect_timeout: float = 2,
        read_timeout: float = 10,
    ):
        super().__init__(
            artifacts_bucket=artifacts_bucket, logs_bucket=logs_bucket, url_expiry=url_expiry
        )
        self.region = region or DEFAULT_REGION
        # API requests read logs and delete objects: with few retries and short timeouts an
        # outage of the store fails them within seconds instead of hanging the workers.
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},
            retries={"max_attempts": max_retries, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
        )
        # A session of our own: the default session is shared and not thread-safe to set up
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=endpoint or None,
            region_name=self.region,
            aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None,
            config=config,
        )

    def presigned_put(self, bucket, key, content_type, content_length=None):
        params = {"Bucket": bucket, "Key": key, "ContentType": content_type}
        if content_length is not None:
            # Signed as the Content-Length header: S3 refuses a body of any other size
            params["ContentLength"] = int(content_length)
        with translate_errors(f"sign an upload to {bucket}/{key}"):
            return self.client.generate_presigned_url(
                "put_object", Params=params, ExpiresIn=self.url_expiry, HttpMethod="PUT"
            )

    def presigned_get(
        self, bucket, key, *, content_type=None, disposition=ATTACHMENT, filename=None
    ):
        # Uploaders set any Content-Type (base-worker sends its own, never a disposition):
        # the headers of the answer are signed into the query instead, where S3 applies them.
        params = {
            "Bucket": bucket,
            "Key": key,
            "ResponseContentType": served_content_type(content_type),
            "ResponseContentDisposition": disposition_header(disposition, filename),
        }
        with translate_errors(f"sign a download of {bucket}/{key}"):
            return self.client.generate_presigned_url(
                "get_object", Params=params, ExpiresIn=self.url_expiry
            )

    def read_tail(self, bucket, key, nbytes):
        if nbytes < 1:
            raise ValueError("read_tail needs a positive number of bytes")
        with translate_errors(f"read the end of {bucket}/{key}"):
            try:
                response = self.client.get_object(Bucket=bucket, Key=key, Range=f"bytes=-{nbytes}")
            except ClientError as e:
                if error_code(e) in NOT_FOUND_CODES:
                    return None
                if error_code(e) in EMPTY_RANGE_CODES:
                    return b""
                raise
            with contextlib.closing(response["Body"]) as body:
                return body.read()

    def delete_many(self, bucket, keys: Iterable[str]) -> list[str]:
        keys = list(keys)
        failed = []
        for start in range(0, len(keys), DELETE_BATCH_SIZE):
            failed.extend(self._delete_batch(bucket, keys[start : start + DELETE_BATCH_SIZE]))
        return failed

    def _delete_batch(self, bucket: str, keys: list[str]) -> list[str]:
        """One DeleteObjects request; the keys S3 reports as not deleted."""
        with translate_errors(f"delete {len(keys)} objects from {bucket}"):
            response = self.client.delete_objects(
                Bucket=bucket,
                # Quiet mode: the answer lists only the failures, keeping it small
                Delete={"Objects": [{"Key": key} for key in keys], "Quiet": True},
            )
        return [
            error["Key"]
            for error in response.get("Errors", [])
            # Some S3-compatible stores report missing keys: they are gone, as asked
            if error.get("Code") not in NOT_FOUND_CODES
        ]

    def list_objects(self, bucket, prefix=""):
        paginator = self.client.get_paginator("list_objects_v2")
        with translate_errors(f"list {bucket}/{prefix}*"):
            # Pages of up to 1000 keys are fetched as the caller iterates
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    yield ObjectInfo(
                        key=item["Key"],
                        size=item["Size"],
                        last_modified=item["LastModified"].astimezone(UTC),
                    )

    def head(self, bucket, key):
        with translate_errors(f"read the metadata of {bucket}/{key}"):
            try:
                response = self.client.head_object(Bucket=bucket, Key=key)
            except ClientError as e:
                if error_code(e) in NOT_FOUND_CODES:
                    return None
                raise
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            last_modified=response["LastModified"].astimezone(UTC),
        )

    def copy(self, bucket, src_key, dst_key):
        with translate_errors(f"copy {bucket}/{src_key} to {dst_key}"):
            self.client.copy_object(
                Bucket=bucket, Key=dst_key, CopySource={"Bucket": bucket, "Key": src_key}
            )

    def delete(self, bucket, key):
        with translate_errors(f"delete {bucket}/{key}"):
            self.client.delete_object(Bucket=bucket, Key=key)

    def put_bytes(self, bucket, key, data, content_type):
        with translate_errors(f"store {bucket}/{key}"):
            self.client.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    def concatenate(self, bucket, segments: list[Segment], dst_key, content_type):
        """Ranged reads of the segments, uploaded as parts of one multipart upload (or one
        PUT when the whole fits in a part), never holding more than a part in memory."""
        buffer = bytearray()
        parts = []
        upload_id = None
        written = 0

        def send_part():
            nonlocal upload_id
            if upload_id is None:
                upload_id = self.client.create_multipart_upload(
                    Bucket=bucket, Key=dst_key, ContentType=content_type
                )["UploadId"]
            number = len(parts) + 1
            answer = self.client.upload_part(
                Bucket=bucket,
                Key=dst_key,
                PartNumber=number,
                UploadId=upload_id,
                Body=bytes(buffer),
            )
            parts.append({"ETag": answer["ETag"], "PartNumber": number})
            buffer.clear()

        with translate_errors(f"concatenate {len(segments)} objects into {bucket}/{dst_key}"):
            try:
                for segment in segments:
                    if segment.key is None:
                        buffer += segment.data
                        written += len(segment.data)
                        continue
                    if segment.length <= 0:
                        continue
                    last = segment.start + segment.length - 1
                    response = self.client.get_object(
                        Bucket=bucket, Key=segment.key, Range=f"bytes={segment.start}-{last}"
                    )
                    read = 0
                    with contextlib.closing(response["Body"]) as body:
                        while chunk := body.read(READ_CHUNK):
                            buffer += chunk
                            read += len(chunk)
                            if len(buffer) >= PART_SIZE:
                                send_part()
                    if read != segment.length:
                        raise StorageError(
                            f"{bucket}/{segment.key} ends {segment.length - read} bytes before "
                            "the end of its segment."
                        )
                    written += read
                if upload_id is None:
                    self.client.put_object(
                        Bucket=bucket, Key=dst_key, Body=bytes(buffer), ContentType=content_type
                    )
                    return written
                if buffer:
                    send_part()
                self.client.complete_multipart_upload(
                    Bucket=bucket,
                    Key=dst_key,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},
                )
            except BaseException:
                if upload_id is not None:
                    # No half-written parts left billed in the bucket
                    with contextlib.suppress(BotoCoreError, ClientError):
                        self.client.abort_multipart_upload(
                            Bucket=bucket, Key=dst_key, UploadId=upload_id
                        )
                raise
        return written

    def ensure_buckets(self):
        for bucket in self.buckets:
            with translate_errors(f"create the bucket {bucket}"):
                if not self._bucket_exists(bucket):
                    self._create_bucket(bucket)

    def _bucket_exists(self, bucket: str) -> bool:
        try:
            self.client.head_bucket(Bucket=bucket)
        except ClientError as e:
            if error_code(e) in NOT_FOUND_CODES | {"NoSuchBucket"}:
                return False
            raise
        return True

    def _create_bucket(self, bucket: str) -> None:
        params = {"Bucket": bucket}
        # us-east-1 is the only region that refuses an explicit location constraint
        if self.region != DEFAULT_REGION:
            params["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**params)
        except ClientError as e:
            # Another process may have created it since we looked
            if error_code(e) != "BucketAlreadyOwnedByYou":
                raise
