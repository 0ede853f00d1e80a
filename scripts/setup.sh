#!/usr/bin/env bash
# Install everything regogate needs on a fresh Debian machine; idempotent and quick when done.
#   - PostgreSQL server + client binaries (Debian packages)
#   - the real `opa` binary, built with `go install` at a pinned v1 release (reused when built)
#   - the Python virtualenv (.venv) with regogate and its test dependencies
#   - the native recording writer (native/writer) and hot path (native/hotpath), Rust:
#     cargo from crates.io
#   - node-postgres and the npm PostgreSQL MCP server for the client tests
#   - helm and kubeconform, built with `go install` at pinned releases, for the deployment
#     tests (tests/deploy; their Kubernetes and Compose schemas are vendored there)
#   - chromium, poppler-utils (pdftoppm), pango and fonts for the evidence report's tests
#     (tests/report: Playwright drives the system chromium; WeasyPrint renders the PDF)
#   - PostgreSQL's regression and isolation suites of the installed server, with regress.so
#     (scripts/suites/setup-pg-suites.sh; tests/suites)
set -euo pipefail
cd "$(dirname "$0")/.."

OPA_VERSION="${OPA_VERSION:-v1.22.2}"
HELM_VERSION="${HELM_VERSION:-v3.22.1}"
KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.8.0}"
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
command -v psql >/dev/null || need_apt+=(postgresql-client)
command -v pgbench >/dev/null || need_apt+=(postgresql-contrib)
if [ "${REGOGATE_WITH_PGBOUNCER:-0}" = 1 ]; then
  command -v pgbouncer >/dev/null || need_apt+=(pgbouncer)
fi
# rustup's toolchain when there is one (a non-login shell may not have it on PATH)
if [ -x "$HOME/.cargo/bin/cargo" ]; then export PATH="$HOME/.cargo/bin:$PATH"; fi
command -v cargo >/dev/null || need_apt+=(cargo)
# The evidence report's tests (tests/report): the HTML report in Debian's chromium, driven
# by Playwright through executable_path (no `playwright install`: no browser download);
# the PDF (WeasyPrint, the pdf extra) needs pango and harfbuzz-subset, and fonts to draw
# with; pdftoppm turns its pages into images.
command -v chromium >/dev/null || need_apt+=(chromium)
command -v pdftoppm >/dev/null || need_apt+=(poppler-utils)
shared_libs="$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p 2>/dev/null || true)"
for lib in libpango-1.0.so.0:libpango-1.0-0 libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
  libharfbuzz-subset.so.0:libharfbuzz-subset0 libfontconfig.so.1:fontconfig; do
  [[ "$shared_libs" == *"${lib%%:*} "* ]] || need_apt+=("${lib#*:}")
done
[ -d /usr/share/fonts/truetype/dejavu ] || need_apt+=(fonts-dejavu-core)
# pgjdbc in binary mode against masked rows (tests/masking/test_pgjdbc_binary.py): a JDK
# to compile the small client, Maven to fetch the driver from Maven Central.
command -v javac >/dev/null || need_apt+=(default-jdk-headless)
command -v mvn >/dev/null || need_apt+=(maven)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

GOBIN="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
if ! "$GOBIN/opa" version 2>/dev/null | grep -q "^Version: ${OPA_VERSION#v}$"; then
  echo "setup: building opa ${OPA_VERSION} with go install (a few minutes, once per machine)"
  GOFLAGS=-trimpath go install "github.com/open-policy-agent/opa@${OPA_VERSION}"
fi

# The module and version a Go binary was built from ("" if it is missing).
go_built() { go version -m "$1" 2>/dev/null | awk '$1 == "mod" { print $2 "@" $3; exit }'; }
# The deployment tests render the Helm chart with the real helm and validate it with
# kubeconform against schemas vendored in tests/deploy/schemas (docs/decisions/0013).
if [ "$(go_built "$GOBIN/helm")" != "helm.sh/helm/v3@${HELM_VERSION}" ]; then
  echo "setup: building helm ${HELM_VERSION} with go install (a few minutes, once per machine)"
  GOFLAGS=-trimpath nice -n 19 go install "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
if [ "$(go_built "$GOBIN/kubeconform")" != "github.com/yannh/kubeconform@${KUBECONFORM_VERSION}" ]; then
  echo "setup: building kubeconform ${KUBECONFORM_VERSION} with go install"
  GOFLAGS=-trimpath nice -n 19 go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.regogate-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi

# The recording writer's native steady state (docs/decisions/0008); cargo is quick when
# nothing changed.
echo "setup: building the native recording writer (cargo build --release)"
cargo build --quiet --release --locked --manifest-path native/writer/Cargo.toml
# The recording hot path on the event loop (docs/decisions/0009): a Python extension,
# copied next to the package (an editable install imports it from there).
echo "setup: building the native recording hot path (cargo build --release)"
PYO3_PYTHON="$PWD/.venv/bin/python" \
  cargo build --quiet --release --locked --manifest-path native/hotpath/Cargo.toml
install -m 0755 native/hotpath/target/release/lib_native.so regogate/_native.abi3.so

if [ -f tests/clients/package.json ]; then
  if [ ! -d tests/clients/node_modules ] || [ tests/clients/package.json -nt tests/clients/node_modules ]; then
    echo "setup: installing node test clients (npm ci)"
    (cd tests/clients && npm ci --silent --no-audit --no-fund)
  fi
fi
# PostgreSQL's own regression and isolation suites for tests/suites (part of `make test`):
# the installed server's sources and regress.so; one dpkg-query and a stamp check when done.
scripts/suites/setup-pg-suites.sh

# The PostgreSQL JDBC driver for the pgjdbc test (its version and SHA-256 are pinned in
# tests/masking/test_pgjdbc_binary.py, which checks them); fetched once.
PGJDBC=42.7.14
if [ ! -f ".cache/jdbc/postgresql-$PGJDBC.jar" ]; then
  echo "setup: fetching the PostgreSQL JDBC driver $PGJDBC (Maven Central)"
  mvn -B -q -Dstyle.color=never org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    -Dartifact="org.postgresql:postgresql:$PGJDBC:jar" -DoutputDirectory=.cache/jdbc
fi
echo "setup: ready (opa, helm, kubeconform: $GOBIN)"
