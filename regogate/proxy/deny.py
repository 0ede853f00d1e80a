"""Denying a statement *in order*: the upstream itself raises the gateway's error.

A denied Query, Parse or FunctionCall is replaced by a DO block that raises the
policy's error. PostgreSQL then reports it at exactly the right point of a pipeline,
aborts the transaction block as it would for any error, and discards the extended
protocol messages up to the next Sync (protocol §55.2.3) — no response bookkeeping here.
"""

from __future__ import annotations

import secrets

from regogate.errors import RegogateError


def _dollar(text: str) -> str:
    """Dollar-quote ``text`` with a tag that cannot occur inside it."""
    while True:
        tag = f"$rg{secrets.token_hex(6)}$"
        if tag not in text:
            return f"{tag}{text}{tag}"


def deny_sql(exc: RegogateError) -> str:
    msg = exc.message.replace("\x00", "")
    parts = [f"ERRCODE = '{exc.sqlstate}'", f"MESSAGE = {_dollar(msg)}"]
    if exc.detail:
        parts.append(f"DETAIL = {_dollar(exc.detail.replace(chr(0), ''))}")
    if exc.hint:
        parts.append(f"HINT = {_dollar(exc.hint.replace(chr(0), ''))}")
    body = f"BEGIN RAISE EXCEPTION USING {', '.join(parts)}; END"
    return f"DO {_dollar(body)}"
