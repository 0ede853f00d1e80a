"""``regogate report check``: every figure of a JSON report against a recomputation.

``differences(claimed, recomputed)`` walks both evidence documents and names each value
that differs by its JSON pointer (RFC 6901); an empty list means every figure holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from regogate.recording.format.jcs import JSONValue


@dataclass(frozen=True)
class Difference:
    pointer: str  # RFC 6901
    claimed: JSONValue
    recomputed: JSONValue

    def line(self, limit: int = 120) -> str:
        def show(v: JSONValue) -> str:
            text = repr(v)
            return text if len(text) <= limit else text[: limit - 1] + "…"

        where = self.pointer or "/"
        return f"{where}: report says {show(self.claimed)}, log gives {show(self.recomputed)}"


def _token(key: str | int) -> str:
    return str(key).replace("~", "~0").replace("/", "~1")


def differences(claimed: JSONValue, recomputed: JSONValue, at: str = "") -> list[Difference]:
    if isinstance(claimed, dict) and isinstance(recomputed, dict):
        out: list[Difference] = []
        for key in sorted(set(claimed) | set(recomputed)):
            here = f"{at}/{_token(key)}"
            if key not in claimed or key not in recomputed:
                out.append(Difference(here, claimed.get(key), recomputed.get(key)))
            else:
                out += differences(claimed[key], recomputed[key], here)
        return out
    if isinstance(claimed, list) and isinstance(recomputed, list):
        out = []
        for i in range(max(len(claimed), len(recomputed))):
            here = f"{at}/{i}"
            if i >= len(claimed) or i >= len(recomputed):
                a = claimed[i] if i < len(claimed) else None
                b = recomputed[i] if i < len(recomputed) else None
                out.append(Difference(here, a, b))
            else:
                out += differences(claimed[i], recomputed[i], here)
        return out
    if type(claimed) is not type(recomputed) or claimed != recomputed:
        return [Difference(at, claimed, recomputed)]
    return []
