#!/bin/sh
# The compose secrets of compose.yaml, made once on the host (needs openssl):
#
#   deploy/compose/secrets/postgres_password     PostgreSQL superuser (only the init uses it)
#   deploy/compose/secrets/upstream_password     the gateway's login role (deploy/initdb)
#   deploy/compose/secrets/regogate_tokens.toml  [[tokens]] hashes of the demo identities
#   deploy/compose/secrets/tokens.env            their tokens, for you: never mounted
#
# An existing file is kept: to replace one, delete it (a new upstream password also needs
# `docker compose down -v`, or ALTER ROLE in the running database). The directory is 0700;
# the files are 0644 because compose mounts them as they are and two different container
# users (postgres and regogate) read them, while tokens.env stays 0600.
set -eu
dir="${1:-$(dirname "$0")/secrets}"
umask 077
mkdir -p "$dir"
chmod 0700 "$dir"

random() { # URL-safe random text from $1 bytes
    openssl rand -base64 "$1" | tr '+/' '-_' | tr -d '=\n'
}

for name in postgres_password upstream_password; do
    if [ ! -s "$dir/$name" ]; then
        random 24 >"$dir/$name"
        chmod 0644 "$dir/$name"
        echo "generate-secrets: wrote $dir/$name"
    fi
done

if [ ! -s "$dir/regogate_tokens.toml" ]; then
    : >"$dir/tokens.env.new"
    : >"$dir/regogate_tokens.toml.new"
    for who in analyst:analysts agent:mcp-agents dba:dba; do
        sub="${who%%:*}"
        group="${who#*:}"
        token="rg_$(random 32)"
        digest="$(printf '%s' "$token" | openssl dgst -sha256 -r | cut -d' ' -f1)"
        printf '[[tokens]]\nsub = "%s"\ngroups = ["%s"]\ntoken_sha256 = "%s"\n\n' \
            "$sub" "$group" "$digest" >>"$dir/regogate_tokens.toml.new"
        printf '%s_TOKEN=%s\n' "$(echo "$sub" | tr '[:lower:]' '[:upper:]')" "$token" \
            >>"$dir/tokens.env.new"
    done
    chmod 0600 "$dir/tokens.env.new"
    chmod 0644 "$dir/regogate_tokens.toml.new"
    mv "$dir/tokens.env.new" "$dir/tokens.env"
    mv "$dir/regogate_tokens.toml.new" "$dir/regogate_tokens.toml"
    echo "generate-secrets: wrote $dir/regogate_tokens.toml; the tokens are in $dir/tokens.env"
fi
