#!/bin/sh
# A cluster in PGDATA on first start (superuser POSTGRES_USER, its password from POSTGRES_PASSWORD_FILE,
# a database POSTGRES_DB), password authentication (SCRAM) for every TCP client, then the server in the
# foreground (arguments go to postgres: `-c name=value`). The password is read from its file by initdb
# alone: never an argument or a variable.
set -eu
: "${POSTGRES_USER:=lens}" "${POSTGRES_DB:=lens}" "${POSTGRES_PASSWORD_FILE:=/secrets/postgres-password}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA" && chmod 0700 "$PGDATA"
  until [ -s "$POSTGRES_PASSWORD_FILE" ]; do sleep 0.2; done
  initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$POSTGRES_PASSWORD_FILE" --auth-host=scram-sha-256 \
    --auth-local=peer --encoding=UTF8 >/dev/null
  # Any address may try (the container sits on the stack's internal network); each must give the password.
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "host all all ::/0 scram-sha-256" >>"$PGDATA/pg_hba.conf"
  echo "CREATE DATABASE \"$POSTGRES_DB\"" | postgres --single -D "$PGDATA" postgres >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp "$@"
