"""A local RFC 3161 time-stamping authority for the tests: a test CA, a TSA certificate
(timeStamping EKU, critical), and an HTTP server answering TimeStampReq with a signed
TimeStampResp (CMS SignedData over a TSTInfo), built with asn1crypto and cryptography."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from asn1crypto import algos, cms, core, tsp
from asn1crypto import x509 as a509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class LocalTsa:
    """A CA and the TSA it certified; ``respond`` answers a DER TimeStampReq."""

    name: str = "regogate test TSA"
    clock_offset: timedelta = timedelta(0)  # the TSA's clock against the host's
    served: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        now = datetime.now(UTC)
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = (
            x509.CertificateBuilder()
            .subject_name(_name(f"{self.name} root"))
            .issuer_name(_name(f"{self.name} root"))
            .public_key(self.ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 100))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False),
                critical=True,
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name(self.name))
            .issuer_name(self.ca.subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365 * 100))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True
            )
            .sign(self.ca_key, hashes.SHA256())
        )
        self._serial = 0

    def ca_pem(self) -> bytes:
        return self.ca.public_bytes(serialization.Encoding.PEM)

    def respond(self, request: bytes) -> bytes:
        req = tsp.TimeStampReq.load(request)
        self._serial += 1
        info = {
            "version": "v1",
            "policy": "1.3.6.1.4.1.99999.1",
            "message_imprint": req["message_imprint"],
            "serial_number": self._serial,
            "gen_time": (datetime.now(UTC) + self.clock_offset).replace(microsecond=0),
        }
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"].native
        tst = tsp.TSTInfo(info).dump()
        der = self.cert.public_bytes(serialization.Encoding.DER)
        signing_cert = {"certs": [{"cert_hash": hashlib.sha256(der).digest()}]}
        attrs = cms.CMSAttributes(
            [
                cms.CMSAttribute({"type": "content_type", "values": ["tst_info"]}),
                cms.CMSAttribute(
                    {"type": "message_digest", "values": [hashlib.sha256(tst).digest()]}
                ),
                cms.CMSAttribute({"type": "signing_certificate_v2", "values": [signing_cert]}),
            ]
        )
        signature = self.key.sign(attrs.dump(), ec.ECDSA(hashes.SHA256()))
        cert = a509.Certificate.load(der)
        signer = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    {
                        "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                            {"issuer": cert.issuer, "serial_number": cert.serial_number}
                        )
                    }
                ),
                "digest_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                "signed_attrs": attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [algos.DigestAlgorithm({"algorithm": "sha256"})],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(tst),
                },
                "certificates": [cert],
                "signer_infos": [signer],
            }
        )
        token = cms.ContentInfo({"content_type": "signed_data", "content": signed})
        return tsp.TimeStampResp(
            {"status": {"status": "granted"}, "time_stamp_token": token}
        ).dump()

    @contextmanager
    def serving(self) -> Iterator[str]:
        """An HTTP endpoint for TimeStampReq (POST ``application/timestamp-query``)."""
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                tsa.served.append(body)
                reply = tsa.respond(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_port}/tsr"
        finally:
            server.shutdown()
            server.server_close()
            thread.join()
