#!/usr/bin/env bash
# Start a throwaway PostgreSQL for the web tests and print its URL on the last line:
#
#   export GOALMATCH_TEST_POSTGRES_URL=$(scripts/start-postgres.sh | tail -1)
#   python -m pytest tests/web/test_web*.py
#
# Installs Debian's postgresql with apt-get when no server binaries are found, initialises
# a cluster in a temporary folder, starts it on 127.0.0.1 on a free port and creates a
# database. Stop it with:  pg_ctl -D "$PGDATA_DIR" stop   (the folder is printed on stderr).
set -euo pipefail

find_bindir() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && { echo "$d"; return 0; }
    done
    command -v initdb >/dev/null 2>&1 && { dirname "$(command -v initdb)"; return 0; }
    return 1
}

if ! BIN=$(find_bindir); then
    echo "start-postgres: installing postgresql with apt-get" >&2
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >&2
    BIN=$(find_bindir) || { echo "start-postgres: no initdb after installing postgresql" >&2; exit 1; }
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DATA=$(mktemp -d -t goalmatch-pg-XXXXXX)
DB=goalmatch_test
PGUSER_NAME=goalmatch
PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(12))')

# initdb refuses to run as root: run the server as the postgres user then.
RUN=()
if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown postgres "$DATA"
    chmod 700 "$DATA"
    RUN=(runuser -u postgres --)
fi

PWFILE="$DATA.pw"
printf '%s\n' "$PASSWORD" > "$PWFILE"
[ ${#RUN[@]} -gt 0 ] && chown postgres "$PWFILE"
"${RUN[@]}" "$BIN/initdb" -D "$DATA/db" -U "$PGUSER_NAME" --pwfile="$PWFILE" -A scram-sha-256 -E UTF8 >&2
rm -f "$PWFILE"
"${RUN[@]}" "$BIN/pg_ctl" -D "$DATA/db" -l "$DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA" start >&2
PGPASSWORD="$PASSWORD" "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$PGUSER_NAME" "$DB"
echo "start-postgres: data in $DATA/db; stop with: ${RUN[*]} $BIN/pg_ctl -D $DATA/db stop" >&2
echo "postgresql+psycopg://$PGUSER_NAME:$PASSWORD@127.0.0.1:$PORT/$DB"
