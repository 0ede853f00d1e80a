"""What verification found: one ``Finding`` per problem, with where and what failed."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"  # the log is not intact: tampering, loss or a broken writer
    WARNING = "warning"  # intact but incomplete: an unsealed tail, a crash, an open session
    INFO = "info"


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str  # stable slug, e.g. "chain-broken", "checkpoint-root-mismatch"
    message: str
    file: str | None = None
    line: int | None = None
    seq: int | None = None

    def __str__(self) -> str:
        where = ""
        if self.file is not None:
            where = self.file if self.line is None else f"{self.file}:{self.line}"
            where += ": "
        seq = "" if self.seq is None else f"seq {self.seq}: "
        return f"{where}{seq}{self.severity}: {self.message} [{self.code}]"


class Findings:
    """Collects findings, keeping at most ``limit`` of each code (a summary says the rest)."""

    def __init__(self, limit: int = 50):
        self.items: list[Finding] = []
        self._limit = limit
        self._counts: Counter[str] = Counter()

    def add(
        self,
        severity: Severity,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        seq: int | None = None,
    ) -> None:
        self._counts[code] += 1
        if self._counts[code] <= self._limit:
            self.items.append(Finding(severity, code, message, file, line, seq))

    def error(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        seq: int | None = None,
    ) -> None:
        self.add(Severity.ERROR, code, message, file=file, line=line, seq=seq)

    def warning(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        seq: int | None = None,
    ) -> None:
        self.add(Severity.WARNING, code, message, file=file, line=line, seq=seq)

    def info(
        self,
        code: str,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        seq: int | None = None,
    ) -> None:
        self.add(Severity.INFO, code, message, file=file, line=line, seq=seq)

    def finish(self) -> list[Finding]:
        for code, count in sorted(self._counts.items()):
            if count > self._limit:
                worst = next(f.severity for f in self.items if f.code == code)
                self.items.append(
                    Finding(worst, code, f"{count - self._limit} more {code} findings not shown")
                )
        return self.items
