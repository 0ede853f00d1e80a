"""The report's control matrix: each clause, the section that evidences it, its figures.

One row per clause; ``figures`` name keys of the report's ``totals`` (report_figures), so
every figure the matrix shows is one the report computes and ``report check`` rechecks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Control:
    framework: str
    clause: str
    title: str
    sections: tuple[str, ...]  # ids of the report's sections
    figures: tuple[str, ...]  # keys of totals


CONTROLS: tuple[Control, ...] = (
    Control(
        "FFIEC IS",
        "II.C.7(b)",
        "User access program: access rights reviewed per user",
        ("identities", "scope"),
        ("identities", "sessions", "statements"),
    ),
    Control(
        "FFIEC IS",
        "II.C.15",
        "Logical security: least privilege, privileged access controlled and monitored",
        ("privileged", "exceptions"),
        ("denials", "privileged", "approvals"),
    ),
    Control(
        "FFIEC IS",
        "II.C.22",
        "Log management: logs protected from modification, retained, reviewed",
        ("integrity", "sample"),
        ("records_verified", "checkpoints", "sampled_sessions"),
    ),
    Control(
        "GLBA",
        "16 CFR 314.4(c)(1)",
        "Access controls: authorized users only, least privilege, periodic review",
        ("identities", "exceptions"),
        ("identities", "denials"),
    ),
    Control(
        "GLBA",
        "16 CFR 314.4(c)(8)",
        "Monitor and log authorized users' activity; detect tampering",
        ("identities", "integrity"),
        ("statements", "records_verified"),
    ),
    Control(
        "GLBA",
        "Interagency Guidelines III.C.1(a),(f)",
        "Banks (12 CFR 30 App. B, 208 App. D-2, 364 App. B): access controls, monitoring",
        ("identities", "exceptions", "integrity"),
        ("sessions", "denials", "records_verified"),
    ),
    Control(
        "PCI DSS v4",
        "10.2.1-10.2.2",
        "Audit logs capture user access, privileged actions, denials; each with who, what, when",
        ("identities", "privileged", "exceptions"),
        ("statements", "privileged", "denials"),
    ),
    Control(
        "PCI DSS v4",
        "10.3",
        "Audit logs protected from destruction and unauthorized modification",
        ("integrity",),
        ("records_verified", "checkpoints"),
    ),
    Control(
        "PCI DSS v4",
        "3.4",
        "Display of account data masked",
        ("masking",),
        ("masked_reads", "masked_columns"),
    ),
    Control(
        "NIST SP 800-53",
        "AU-3",
        "Content of audit records: what, when, where, source, outcome, identity",
        ("appendix-schema", "exceptions"),
        ("statements", "denials"),
    ),
    Control(
        "NIST SP 800-53",
        "AU-9",
        "Protection of audit information",
        ("integrity",),
        ("records_verified", "checkpoints"),
    ),
    Control(
        "NIST SP 800-53",
        "AU-10",
        "Non-repudiation: signed checkpoints bind each record",
        ("integrity", "sample"),
        ("checkpoints", "sampled_sessions"),
    ),
    Control(
        "NIST SP 800-53",
        "AC-6",
        "Least privilege; privileged functions logged",
        ("privileged", "exceptions"),
        ("privileged", "denials"),
    ),
    Control(
        "NIST CSF 2.0",
        "PR.AA-05",
        "Access permissions defined, managed, enforced and reviewed",
        ("identities", "exceptions"),
        ("identities", "denials"),
    ),
    Control(
        "NIST CSF 2.0",
        "DE.CM-03",
        "Personnel activity monitored to find adverse events",
        ("identities", "privileged", "exceptions"),
        ("statements", "privileged", "exceptions"),
    ),
)
