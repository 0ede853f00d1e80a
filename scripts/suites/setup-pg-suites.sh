#!/usr/bin/env bash
# PostgreSQL's own regression and isolation suites, for tests/suites/test_pg_suites.py.
#
# Installs into .cache/pg-suites/<package version>/ (ignored by git and docker):
#   regress/    sql/, expected/, data/, parallel_schedule, resultmap   (from the source package)
#   isolation/  specs/, expected/, isolation_schedule
#   lib/        regress.so, built against postgresql-server-dev-<major> with PGXS;
#               refint.so and autoinc.so linked from the server's pkglibdir
#   manifest.json  what the harness reads (versions and paths)
# The sources are Debian's postgresql-<major> source package of exactly the installed
# server's version (apt-get source; a deb-src entry is added for the machine's own Debian
# archive entries when there is none). The drivers (pg_regress, pg_isolation_regress,
# isolationtester) are Debian's own builds, shipped in postgresql-client-<major>.
# Quick when done: one dpkg-query and a stamp check.
set -euo pipefail
cd "$(dirname "$0")/../.."

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO="sudo"; fi

# The server the tests run (the newest installed, as regogate.pgserver.find_bindir picks it).
initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -t/ -k4,4n | tail -1)
if [ -z "$initdb" ]; then
  echo "setup-pg-suites: no PostgreSQL server installed (scripts/setup.sh installs it first)" >&2
  exit 1
fi
major=$(basename "$(dirname "$(dirname "$initdb")")")
version=$(dpkg-query -W -f='${Version}' "postgresql-$major")
upstream=${version%%-*}
cache=".cache/pg-suites/$version"
if [ -f "$cache/manifest.json" ]; then
  exit 0
fi
echo "setup: PostgreSQL $version regression and isolation suites into $cache (once per server version)"

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
}

# -- a deb-src entry for the machine's own Debian archive entries ---------------------------
have_source() {
  # (no grep -q: under pipefail, grep's early exit would fail apt-cache with SIGPIPE)
  apt-cache showsrc "postgresql-$major" 2>/dev/null | grep -x "Version: $version" >/dev/null
}
if ! have_source; then
  # deb822 stanzas (Debian 12's /etc/apt/sources.list.d/debian.sources) and one-line
  # entries (/etc/apt/sources.list) of the Debian archive, as deb-src. Third-party
  # repositories are left out: only stanzas signed by Debian's archive keyring, or whose
  # URIs are a Debian archive, are copied.
  python3 - <<'EOF' >/tmp/regogate-deb-src.$$
import glob, re, sys
out = []
for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
    if path.endswith("/regogate-deb-src.sources"):
        continue
    for stanza in re.split(r"\n\s*\n", open(path).read()):
        fields = {}
        for line in stanza.splitlines():
            m = re.match(r"^([A-Za-z-]+):\s*(.*)$", line)
            if m:
                fields[m.group(1).lower()] = m.group(2).strip()
        if "deb" not in fields.get("types", "").split():
            continue
        if fields.get("enabled", "yes").lower() == "no":
            continue
        debian = "debian-archive-keyring" in fields.get("signed-by", "") or re.search(
            r"/debian(-security)?/?(\s|$)", fields.get("uris", "") + " "
        )
        if not debian:
            continue
        lines = ["Types: deb-src"]
        for key in ("uris", "suites", "components", "signed-by"):
            if key in fields:
                lines.append(f"{key.title().replace('Uris', 'URIs')}: {fields[key]}")
        out.append("\n".join(lines))
for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
    try:
        text = open(path).read()
    except OSError:
        continue
    for line in text.splitlines():
        m = re.match(r"^\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$", line)
        if not m or not re.search(r"/debian(-security)?/?$", m.group(2)):
            continue
        signed = re.search(r"signed-by=(\S+?)\]?(\s|$)", m.group(1) or "")
        lines = ["Types: deb-src", f"URIs: {m.group(2)}", f"Suites: {m.group(3)}",
                 f"Components: {m.group(4).split('#')[0].strip()}"]
        if signed:
            lines.append(f"Signed-By: {signed.group(1).rstrip(']')}")
        out.append("\n".join(lines))
if not out:
    sys.exit("no Debian archive entry found in /etc/apt/sources.list{,.d}")
print("# deb-src for the Debian archive entries of this machine (regogate scripts/suites)")
print("\n\n".join(out))
EOF
  $SUDO install -m 0644 /tmp/regogate-deb-src.$$ /etc/apt/sources.list.d/regogate-deb-src.sources
  rm -f /tmp/regogate-deb-src.$$
  apt_update
  if ! have_source; then
    echo "setup-pg-suites: the archive has no source package postgresql-$major $version" >&2
    exit 1
  fi
fi

# -- the build tools and server headers (same version as the server) -------------------------
need=()
[ "$(dpkg-query -W -f='${Version}' "postgresql-server-dev-$major" 2>/dev/null)" = "$version" ] ||
  need+=("postgresql-server-dev-$major=$version")
for p in dpkg-dev gcc make libc6-dev patch; do
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "setup-pg-suites: installing Debian packages: ${need[*]}"
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${need[@]}" >/dev/null
fi
pgxs_tests="/usr/lib/postgresql/$major/lib/pgxs/src/test"
for exe in "$pgxs_tests/regress/pg_regress" "$pgxs_tests/isolation/pg_isolation_regress" \
  "$pgxs_tests/isolation/isolationtester"; do
  if [ ! -x "$exe" ]; then
    echo "setup-pg-suites: $exe is missing (Debian's postgresql-client-$major ships it)" >&2
    exit 1
  fi
done

# -- the sources, regress.so -----------------------------------------------------------------
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sandbox=()
if [ "$(id -u)" = 0 ]; then sandbox=(-o APT::Sandbox::User=root); fi
(cd "$work" && apt-get source -qq "${sandbox[@]}" "postgresql-$major=$version" >/dev/null)
src="$work/postgresql-$major-$upstream"
make -s -C "$src/src/test/regress" -f "$src/debian/tests/Makefile.regress" \
  PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" with_llvm=no >/dev/null

staging="$cache.tmp"
rm -rf "$staging"
mkdir -p "$staging/regress" "$staging/isolation" "$staging/lib"
cp -r "$src/src/test/regress/"{sql,expected,data,parallel_schedule,resultmap} "$staging/regress/"
cp -r "$src/src/test/isolation/"{specs,expected,isolation_schedule} "$staging/isolation/"
install -m 0755 "$src/src/test/regress/regress.so" "$staging/lib/regress.so"
pkglibdir=$("/usr/lib/postgresql/$major/bin/pg_config" --pkglibdir)
for lib in refint autoinc; do
  ln -s "$pkglibdir/$lib.so" "$staging/lib/$lib.so"
done
cat >"$staging/manifest.json" <<EOF
{
  "package_version": "$version",
  "major": "$major",
  "bindir": "/usr/lib/postgresql/$major/bin",
  "pg_regress": "$pgxs_tests/regress/pg_regress",
  "pg_isolation_regress": "$pgxs_tests/isolation/pg_isolation_regress",
  "regress_dir": "regress",
  "isolation_dir": "isolation",
  "dlpath": "lib"
}
EOF
# Readable by the unprivileged PostgreSQL user (the server reads data/ with COPY FROM).
chmod -R a+rX "$staging"
rm -rf "$cache"
mv "$staging" "$cache"
echo "setup-pg-suites: ready ($cache)"
