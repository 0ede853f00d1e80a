"""`python -m regogate` is the `regogate` command."""

from regogate.cli.main import app

app()
