# The recording hot path in Rust (native/hotpath); regogate/recording/write/hotpath.py is the
# same API in Python, and the reference.
from collections.abc import Callable, Mapping

from regogate.errors import RecordingUnavailable
from regogate.recording.write.hotpath import Queue, SessionChain

def commitment(key: bytes, literals: tuple[str, ...]) -> str: ...
def redact_plain(sql: str) -> tuple[str, tuple[str, ...], int] | None: ...

class FrameQueue:
    size: int
    last_ts: int
    pending_bytes: int
    queued: int
    accepting: bool
    draining: bool
    idle: bool
    failure: RecordingUnavailable | None
    def __init__(
        self,
        size: int,
        *,
        wake: Callable[[], object],
        max_record: int,
        max_pending: int,
        clock: Callable[[], int] | None = None,
    ) -> None: ...
    def append(self, rtype: str, sid: str | None, n: int | None, body: bytes) -> int: ...
    def take(self, count: int) -> tuple[bytes, int, int]: ...
    def release(self, nbytes: int) -> None: ...
    def clear(self) -> None: ...

class Chain:
    sid: str
    n: int
    last_seq: int
    closed: bool
    def __init__(self, queue: Queue, sid: str) -> None: ...
    def append(self, rtype: str, body: bytes) -> int: ...

class ResultTap:
    def __init__(
        self,
        chain: SessionChain,
        *,
        key: bytes,
        serialize: Callable[[str, Mapping[str, object]], bytes],
        failed: Callable[[], object] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None: ...
    def event(self, kind: str, body: Mapping[str, object] | bytes | None = None) -> None: ...
    def upstream(self, data: bytes) -> None: ...

class RowMasker:
    """regogate/masking/rows.py's mask_row over one plan (rows.native_cells)."""
    def __init__(self, cells: list[tuple[int, int, int, bytes | None]], key: bytes) -> None: ...
    def __len__(self) -> int: ...
    def __call__(self, body: bytes, /) -> bytes: ...

class BindMacs:
    """recording.format.mac.ParamCommitter.commit with per-value MACs."""

    def __init__(self, key: bytes, most: int) -> None: ...
    def __call__(self, body: bytes) -> tuple[bytes, dict[str, str]] | bool | None: ...
