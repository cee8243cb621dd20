"""Shipping recordings off the machine: S3 and S3-compatible object storage.

``RETRACE_UPLOAD=s3://bucket/prefix`` uploads each finished recording to
``s3://bucket/prefix/<recording directory name>/`` (every file, ``trace.bin``s and
``run/`` included; an object ``.retrace-complete`` last, so a reader can tell a
whole upload from one under way). ``retrace-python fetch s3://bucket/prefix/NAME
[DIR]`` brings one back. boto3 does the transfers (an optional dependency:
``pip install 'retrace-python[s3]'``); its usual settings apply: credentials from
the environment or the instance, ``AWS_ENDPOINT_URL`` for S3-compatible storage
(MinIO, Ceph, moto).

Who uploads: ``retrace-entrypoint`` itself, after the program exits (a container
ends with its PID 1, so nothing may be left running); otherwise the recorded root
process starts a detached uploader as it ends (``python -m retrace.storage upload
DIR URL``, its log in ``DIR/upload.log``). Either waits until every process of the
recording has ended (children may outlive their root), at most
``RETRACE_UPLOAD_WAIT`` seconds (default 60).
"""

from __future__ import annotations

import os
import sys
import time

from retrace.errors import EXIT_UNAVAILABLE, RetraceError, UsageError
from retrace.layout import UPLOAD_LOG as LOG_FILE  # (never uploaded)

UPLOAD_VAR = "RETRACE_UPLOAD"
WAIT_VAR = "RETRACE_UPLOAD_WAIT"
COMPLETE_MARKER = ".retrace-complete"


class StorageError(RetraceError):
    exit_code = EXIT_UNAVAILABLE


def parse_url(url: str) -> tuple[str, str]:
    """s3://bucket/prefix -> (bucket, prefix without slashes at its ends)."""
    if not url.startswith("s3://"):
        raise UsageError(f"{url!r} is not an s3://bucket/prefix address")
    bucket, _, prefix = url[len("s3://"):].partition("/")
    if not bucket:
        raise UsageError(f"{url!r} names no bucket")
    return bucket, prefix.strip("/")


def _client():
    try:
        import boto3
    except ImportError:
        raise StorageError("S3 transfers need boto3: pip install 'retrace-python[s3]'") from None
    return boto3.client("s3")


def _key(prefix: str, *parts: str) -> str:
    return "/".join(part for part in (prefix, *parts) if part)


def wait_until_finished(path: str, timeout: float, between=None) -> bool:
    """Whether every process of the recording ended within ``timeout`` seconds
    (``between()`` runs at each look: the entrypoint reaps orphans there)."""
    from retrace.inspection.model import RUNNING, load_recording

    deadline = time.monotonic() + timeout
    while True:
        if between is not None:
            between()
        try:
            if load_recording(path).state != RUNNING:
                return True
        except Exception:
            return True  # unreadable as it stands: upload what there is
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)


def upload(path: str, url: str, *, say=print) -> str:
    """Upload the recording at ``path``; the URL it is now at."""
    bucket, prefix = parse_url(url)
    path = os.path.abspath(path)
    name = os.path.basename(path.rstrip(os.sep))
    client = _client()
    count = 0
    try:
        for directory, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for filename in sorted(filenames):
                local = os.path.join(directory, filename)
                relative = os.path.relpath(local, path)
                if relative == LOG_FILE:
                    continue
                client.upload_file(local, bucket, _key(prefix, name, *relative.split(os.sep)))
                count += 1
        client.put_object(Bucket=bucket, Key=_key(prefix, name, COMPLETE_MARKER), Body=b"")
    except Exception as exc:  # botocore's errors: no credentials, no bucket, no network
        raise StorageError(f"cannot upload {path} to {url}: {exc}") from None
    where = f"s3://{bucket}/{_key(prefix, name)}"
    say(f"uploaded {count} files of {path} to {where}")
    return where


class Fetched:
    """What ``fetch`` did: the recording at ``url`` is in ``directory`` (the launcher says so)."""

    __slots__ = ("url", "directory")

    def __init__(self, url: str, directory: str) -> None:
        self.url = url
        self.directory = directory


def fetch(url: str, destination: str | None = None) -> Fetched:
    """Download the recording at ``url`` into ``destination`` (default: ./NAME)."""
    bucket, prefix = parse_url(url)
    if not prefix:
        raise UsageError(f"{url!r}: give the recording's address, s3://bucket/prefix/NAME")
    client = _client()
    keys = []
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/"):
            keys += [item["Key"] for item in page.get("Contents", [])]
    except Exception as exc:
        raise StorageError(f"cannot list {url}: {exc}") from None
    relative = [key[len(prefix) + 1:] for key in keys]
    if COMPLETE_MARKER not in relative:
        found = sorted({r.split("/")[0] for r in relative if r.endswith("/" + COMPLETE_MARKER)})
        if found:
            raise UsageError(f"{url} holds recordings, it is none: fetch one of "
                             + ", ".join(f"{url.rstrip('/')}/{name}" for name in found))
        raise StorageError(f"no complete recording at {url}" + (" (an upload under way?)" if relative else ""))
    destination = destination or os.path.basename(prefix)
    if os.path.exists(destination) and os.listdir(destination):
        raise UsageError(f"{destination} exists and is not empty; choose another directory")
    try:
        for key, rel in zip(keys, relative):
            if rel == COMPLETE_MARKER or rel.endswith("/"):
                continue
            local = os.path.join(destination, *rel.split("/"))
            if os.path.relpath(local, destination).startswith(os.pardir):
                raise StorageError(f"refusing {key}: it would land outside {destination}")
            os.makedirs(os.path.dirname(local), exist_ok=True)
            client.download_file(bucket, key, local)
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"cannot download {url}: {exc}") from None
    return Fetched(url, destination)


def upload_wait() -> float:
    try:
        return float(os.environ.get(WAIT_VAR) or 60)
    except ValueError:
        return 60.0


def upload_when_finished(path: str, url: str, say, between=None) -> bool:
    """Wait for the recording's processes to end, then upload; False on failure (said)."""
    wait = upload_wait()
    if not wait_until_finished(path, wait, between):
        say(f"{path}: some of its processes are still running after {wait:.0f} s; uploading it as it is")
    try:
        upload(path, url, say=say)
    except RetraceError as error:
        say(str(error))
        return False
    return True


def main(argv: list[str]) -> int:
    """``python -m retrace.storage upload DIR URL``: the detached uploader."""
    if len(argv) != 3 or argv[0] != "upload":
        sys.stderr.write("usage: python -m retrace.storage upload DIR s3://bucket/prefix\n")
        return 2
    path, url = argv[1], argv[2]

    def say(message: str) -> None:
        sys.stderr.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} retrace: {message}\n")
        sys.stderr.flush()

    return 0 if upload_when_finished(path, url, say) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
