"""regogate: a policy-as-code gateway for PostgreSQL."""

__version__ = "0.1.0"
