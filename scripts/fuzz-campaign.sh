#!/usr/bin/env bash
# The long fuzz campaign (docs/decisions/0015): every target of tests/fuzz for MINUTES
# minutes in all (default 30), at low priority; prints inputs, crashes and hangs per
# target and keeps failing inputs in tests/fuzz/corpus/. Further arguments go to
# `python -m tests.fuzz.campaign` (--targets a,b  --hang-seconds S  --json FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
minutes="${1:-30}"
shift || true
# The outer limit catches a hang the per-input watchdog cannot interrupt (native code).
limit=$(python -c "print(int(float('$minutes') * 60 + 600))")
exec nice -n 10 timeout --kill-after=30 "$limit" \
  python -m tests.fuzz.campaign --minutes "$minutes" "$@"
