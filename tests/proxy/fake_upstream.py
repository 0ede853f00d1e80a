"""A fake upstream PostgreSQL server: just enough of startup and authentication to play a
server that misbehaves (skips or forges the SCRAM final message, asks for the password in
cleartext or as MD5, asks for none), and to record what the gateway sends it.

It runs in threads of the test process; the gateway under test is a real `regogate
serve` process configured with a connection to ``FakeUpstream.port``. Messages are
encoded and decoded with regogate's own wire module, the SCRAM server side is scramp's.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import socketserver
import threading
from dataclasses import dataclass, field
from typing import Literal

from scramp import ScramException, ScramMechanism

from regogate.wire.backend import (
    BackendKeyData,
    EmptyQueryResponse,
    ErrorResponse,
    ParameterStatus,
    ReadyForQuery,
)
from regogate.wire.backend_auth import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
)
from regogate.wire.framing import Frame, MessageReader
from regogate.wire.frontend import SASLInitialResponse, SASLResponse
from regogate.wire.startup import SSLRequest, StartupMessage, decode_startup
from tests.fix_pg import UPSTREAM_PASSWORD

Behaviour = Literal[
    "scram",  # a faithful SCRAM-SHA-256 exchange
    "scram-skip-final",  # AuthenticationOk right after the client's final message
    "scram-forged-final",  # a well-formed AuthenticationSASLFinal with a wrong signature
    "scram-garbage-final",  # an AuthenticationSASLFinal that is no SCRAM message
    "cleartext",
    "md5",
    "trust",  # AuthenticationOk without asking for anything
]

USER = "rg_fake"
SCRAM = "SCRAM-SHA-256"
STATUS = (
    ("server_version", "16.0"),
    ("server_encoding", "UTF8"),
    ("client_encoding", "UTF8"),
    ("DateStyle", "ISO, MDY"),
    ("integer_datetimes", "on"),
    ("standard_conforming_strings", "on"),
)


@dataclass
class Visit:
    """One connection the gateway opened to the fake."""

    startup: dict[str, str] = field(default_factory=dict)
    # typed messages the gateway sent during authentication (PasswordMessage, SASL...)
    auth_messages: list[Frame] = field(default_factory=list)
    logged_in: bool = False  # the fake sent ReadyForQuery
    after_login: bytearray = field(default_factory=bytearray)  # raw bytes after that
    closed: threading.Event = field(default_factory=threading.Event)


class _Conn:
    def __init__(self, sock: socket.socket, fake: FakeUpstream, visit: Visit):
        self.sock = sock
        self.fake = fake
        self.visit = visit
        self.reader = MessageReader(startup=True)

    def frame(self) -> Frame:
        while (frame := self.reader.next_frame()) is None:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed")
            self.reader.feed(data)
        return frame

    def auth_frame(self) -> Frame:
        frame = self.frame()
        self.visit.auth_messages.append(frame)
        return frame

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def serve(self) -> None:
        packet = decode_startup(self.frame().body)
        if isinstance(packet, SSLRequest):
            self.send(b"N")
            packet = decode_startup(self.frame().body)
        assert isinstance(packet, StartupMessage)
        self.visit.startup = dict(packet.params)
        self.reader.typed()
        if not self.authenticate(self.fake.behaviour):
            return
        out = b"".join(ParameterStatus(k, v).encode() for k, v in STATUS)
        out += BackendKeyData(4242, b"\x01\x02\x03\x04").encode() + ReadyForQuery().encode()
        self.send(out)
        self.visit.logged_in = True
        self.relay()

    def authenticate(self, behaviour: Behaviour) -> bool:
        if behaviour.startswith("scram"):
            return self.scram(behaviour)
        if behaviour in ("cleartext", "md5"):
            ask = (
                AuthenticationCleartextPassword()
                if behaviour == "cleartext"
                else AuthenticationMD5Password(b"salt")
            )
            self.send(ask.encode())
            with contextlib.suppress(ConnectionError, OSError):
                self.auth_frame()  # the password, if the gateway sends it
            self.send(AuthenticationOk().encode())
            return True
        self.send(AuthenticationOk().encode())  # trust
        return True

    def scram(self, behaviour: Behaviour) -> bool:
        mech = ScramMechanism(SCRAM)
        auth = mech.make_auth_info(self.fake.password, iteration_count=4096)
        server = mech.make_server(lambda _user: auth)
        self.send(AuthenticationSASL((SCRAM,)).encode())
        first = SASLInitialResponse.decode(self.auth_frame().body)
        assert first.mechanism == SCRAM and first.data is not None
        server.set_client_first(first.data.decode())
        self.send(AuthenticationSASLContinue(server.get_server_first().encode()).encode())
        final = SASLResponse.decode(self.auth_frame().body)
        try:
            server.set_client_final(final.data.decode())
        except ScramException:
            self.send(ErrorResponse.make("28P01", "password authentication failed").encode())
            return False
        if behaviour == "scram":
            self.send(AuthenticationSASLFinal(server.get_server_final().encode()).encode())
        elif behaviour == "scram-forged-final":
            forged = b"v=" + base64.b64encode(os.urandom(32))
            self.send(AuthenticationSASLFinal(forged).encode())
        elif behaviour == "scram-garbage-final":
            self.send(AuthenticationSASLFinal(b"garbage").encode())
        self.send(AuthenticationOk().encode())
        return True

    def relay(self) -> None:
        """After login: record every byte; answer each Query with an empty result."""
        self.reader.take_buffered()
        while True:
            data = self.sock.recv(65536)
            if not data:
                return
            self.visit.after_login += data
            self.reader.feed(data)
            while (frame := self.reader.next_frame()) is not None:
                if frame.tag == b"Q":
                    self.send(EmptyQueryResponse().encode() + ReadyForQuery().encode())
                elif frame.tag == b"X":
                    return


class FakeUpstream:
    def __init__(self, behaviour: Behaviour, password: str = UPSTREAM_PASSWORD):
        self.behaviour = behaviour
        self.password = password
        self.visits: list[Visit] = []
        fake = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                visit = Visit()
                fake.visits.append(visit)
                self.request.settimeout(60)
                try:
                    _Conn(self.request, fake, visit).serve()
                except (ConnectionError, OSError):
                    pass
                finally:
                    visit.closed.set()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def toml(self, name: str = "fake", *, password: bool = True, extra: str = "") -> str:
        """A [connections.NAME] table for the gateway pointing at this fake."""
        secret = 'password_env = "RG_TEST_UPSTREAM_PASSWORD"\n' if password else ""
        return (
            f'\n[connections.{name}]\nhost = "127.0.0.1"\nport = {self.port}\n'
            f'database = "fake"\nuser = "{USER}"\n{secret}{extra}'
        )
