#!/bin/sh
# regogate-entrypoint: the image's entrypoint (Dockerfile).
#
#   serve [ARGS]  the gateway: $REGOGATE_CONFIG plus the [[tokens]] of the files named in
#                 $REGOGATE_TOKENS_FILES (colon-separated secrets; none for OIDC only),
#                 written to $REGOGATE_RUN_DIR/regogate.toml (0600, on tmpfs), then
#                 `regogate serve -c` that file. Token hashes stay out of the config
#                 that is committed or kept in a ConfigMap.
#   init          once per deployment, idempotent: a self-signed certificate for the
#                 listener in $REGOGATE_TLS_DIR and the log-signing key
#                 $REGOGATE_KEY_FILE (named $REGOGATE_LOG_NAME), each made only if absent.
#   anything else `regogate ARGS` (verify, sessions, keys, policy, ...).
set -eu
set -f # no pathname expansion: the lists below are split on their separators only

fail() {
    echo "regogate-entrypoint: $*" >&2
    exit 2
}

# A tokens file holds [[tokens]] tables only: it must not reach into the tables of the
# base config (a key before its first [[tokens]] header would land in the last table
# there, e.g. `mode = "off"` in [policy]), nor open a table of its own.
check_tokens_file() {
    awk -v file="$1" '
        /^[ \t]*(#.*)?$/ { next }
        /^[ \t]*\[\[[ \t]*tokens[ \t]*\]\][ \t]*(#.*)?$/ { seen = 1; next }
        /^[ \t]*\[/ { print file ": line " NR ": only [[tokens]] tables are allowed"; bad = 1; exit }
        !seen { print file ": line " NR ": a key before the first [[tokens]] header"; bad = 1; exit }
        END { exit bad }
    ' "$1" >&2
}

assemble_config() {
    base="${REGOGATE_CONFIG:-/etc/regogate/regogate.toml}"
    run_dir="${REGOGATE_RUN_DIR:-/tmp/regogate}"
    [ -r "$base" ] || fail "cannot read the config file $base (REGOGATE_CONFIG)"
    umask 077
    mkdir -p "$run_dir"
    config="$run_dir/regogate.toml"
    {
        cat "$base"
        printf '\n# [[tokens]] from REGOGATE_TOKENS_FILES (regogate-entrypoint)\n'
    } >"$config.new"
    old_ifs="$IFS"
    IFS=:
    for tokens in ${REGOGATE_TOKENS_FILES:-}; do
        IFS="$old_ifs"
        [ -n "$tokens" ] || continue
        [ -r "$tokens" ] || fail "cannot read the tokens file $tokens (REGOGATE_TOKENS_FILES)"
        check_tokens_file "$tokens" || fail "refusing the tokens file $tokens"
        { printf '\n'; cat "$tokens"; } >>"$config.new"
    done
    IFS="$old_ifs"
    mv "$config.new" "$config"
}

init_tls() {
    dir="${REGOGATE_TLS_DIR:-/var/lib/regogate/tls}"
    if [ -s "$dir/server.crt" ] && [ -s "$dir/server.key" ]; then
        echo "regogate-entrypoint: listener certificate $dir/server.crt exists"
        return
    fi
    san=""
    old_ifs="$IFS"
    IFS=,
    for host in ${REGOGATE_TLS_HOSTNAMES:-regogate,localhost}; do
        san="${san:+$san,}DNS:$host"
    done
    IFS="$old_ifs"
    umask 077
    mkdir -p "$dir"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -days "${REGOGATE_TLS_DAYS:-365}" -subj "/CN=regogate" \
        -addext "subjectAltName=$san,IP:127.0.0.1" \
        -addext "extendedKeyUsage=serverAuth" \
        -keyout "$dir/server.key.new" -out "$dir/server.crt.new" 2>/dev/null \
        || fail "openssl could not make the listener certificate"
    mv "$dir/server.key.new" "$dir/server.key"
    mv "$dir/server.crt.new" "$dir/server.crt"
    echo "regogate-entrypoint: made a self-signed listener certificate $dir/server.crt ($san)"
}

init_key() {
    key="${REGOGATE_KEY_FILE:-/var/lib/regogate/keys/recording.key}"
    if [ -e "$key" ]; then
        echo "regogate-entrypoint: log-signing key $key exists"
        return
    fi
    regogate keys generate --key "$key" --name "${REGOGATE_LOG_NAME:-regogate.local/regogate}"
}

command="${1:-serve}"
[ $# -eq 0 ] || shift
case "$command" in
    serve)
        assemble_config
        exec regogate serve -c "$config" "$@"
        ;;
    init)
        init_tls
        init_key
        ;;
    *)
        exec regogate "$command" "$@"
        ;;
esac
