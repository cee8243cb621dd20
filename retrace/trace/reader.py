"""TraceReader: reads trace.bin back into items, refusing what it cannot trust."""

from __future__ import annotations

import posix

from retrace.trace.cbor import loads

from retrace.errors import RecordingError, TraceCorrupt
from retrace.trace import format as fmt
from retrace.trace.framing import FrameCorrupt, split_frames
from retrace.trace.values import decode_tag


def read_file_bytes(path: str) -> bytes:
    """Whole-file read through posix (never through patched boundaries)."""
    try:
        fd = posix.open(path, posix.O_RDONLY | posix.O_CLOEXEC)
    except FileNotFoundError:
        raise RecordingError(f"no trace file at {path}") from None
    except OSError as exc:
        raise RecordingError(f"cannot read {path}: {exc.strerror}") from None
    try:
        parts = []
        while True:
            block = posix.read(fd, 1 << 20)
            if not block:
                return b"".join(parts)
            parts.append(block)
    finally:
        posix.close(fd)


class TraceReader:
    """Decodes chunks lazily; ``tear`` says where a cut-short trace stops."""

    def __init__(self, path: str, data: bytes | None = None) -> None:
        self.path = path
        self.data = read_file_bytes(path) if data is None else data
        if not self.data.startswith(fmt.MAGIC):
            if len(self.data) < len(fmt.MAGIC) and fmt.MAGIC.startswith(self.data):
                raise TraceCorrupt(f"{path} is empty or cut short before its header")
            raise RecordingError(f"{path} is not a retrace trace file")
        self.tear: tuple[int, str] | None = None
        self._frames = self._frames_with_tear()
        try:
            _, first = next(self._frames)
        except StopIteration:
            raise TraceCorrupt(f"{path} is cut short inside its header") from None
        except TraceCorrupt:
            raise TraceCorrupt(f"{path} is corrupt: its header chunk is damaged") from None
        self.header = self._decode(first, len(fmt.MAGIC))
        if not isinstance(self.header, dict) or "format" not in self.header:
            raise TraceCorrupt(f"{path} has no valid header")
        version = self.header["format"]
        if type(version) is not int:
            raise TraceCorrupt(f"{path} has no valid header (format {version!r})")
        if version not in fmt.READABLE_VERSIONS:
            readable = ", ".join(map(str, sorted(fmt.READABLE_VERSIONS)))
            hint = "made by a newer retrace-python: upgrade to replay it" if version > fmt.FORMAT_VERSION \
                else "too old for this retrace-python"
            raise RecordingError(f"{path} uses trace format {version}; this retrace-python reads "
                                 f"format {readable} ({hint})")

    def _frames_with_tear(self):
        try:
            self.tear = yield from split_frames(self.data, len(fmt.MAGIC))
        except FrameCorrupt as exc:
            raise TraceCorrupt(f"{self.path} is corrupt: {exc}") from None

    def _decode(self, payload: bytes, offset: int):
        try:
            return loads(payload, tag_hook=decode_tag)
        except Exception as exc:  # CBORDecodeError, or a tag whose value makes no sense
            raise TraceCorrupt(f"{self.path} is corrupt: undecodable chunk at byte {offset} ({exc})") from None

    def chunks(self):
        """Yield the item list of each complete chunk after the header."""
        for offset, payload in self._frames:
            items = self._decode(payload, offset)
            if not isinstance(items, list):
                raise TraceCorrupt(f"{self.path} is corrupt: malformed chunk at byte {offset}")
            yield items
