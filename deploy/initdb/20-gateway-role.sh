#!/bin/sh
# postgres image init script (/docker-entrypoint-initdb.d, first start only): the gateway's
# least-privilege login role, its password from the compose secret named by
# $REGOGATE_PASSWORD_FILE, in $POSTGRES_DB (after 10-bank.sql made the tables).
# The image's entrypoint runs it (it is executable). The password reaches psql on stdin,
# as a \set, never on a command line or in an environment. REGOGATE_ROLE (default
# regogate) and REGOGATE_ROLE_SQL (the .psql beside it) let the tests run it too.
set -eu
password_file="${REGOGATE_PASSWORD_FILE:-/run/secrets/upstream_password}"
[ -s "$password_file" ] || { echo "20-gateway-role.sh: $password_file is missing" >&2; exit 1; }
# \set gateway_password '...' with backslashes and quotes escaped as psql reads them
{
    printf '\\set gateway_password '"'"
    sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" "$password_file" | tr -d '\n'
    printf "'"'\n'
    printf '\\set gateway_role %s\n' "${REGOGATE_ROLE:-regogate}"
    cat "${REGOGATE_ROLE_SQL:-/docker-entrypoint-initdb.d/gateway-role.psql}"
} | psql -X --no-password -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" \
    --dbname "${POSTGRES_DB:-postgres}" -q
