#!/usr/bin/env bash
# netbox-down.sh - stop what netbox-up.sh started, and only that: the pids recorded in $NB_RUN_DIR/*.pid.
# Data (PostgreSQL cluster, configuration, tokens) is kept; netbox-up.sh brings it back.
#   NB_DOWN_KEEP_PG=1   leave PostgreSQL running
set -uo pipefail

NB_ROOT="${NB_ROOT:?set NB_ROOT}"
NB_RUN_DIR="${NB_RUN_DIR:-$NB_ROOT/run}"
NB_PGDATA="${NB_PGDATA:-$NB_ROOT/pg}"
NB_PGBIN="${NB_PGBIN:-}"
NB_DOWN_KEEP_PG="${NB_DOWN_KEEP_PG:-0}"

log() { printf '[netbox-down] %s\n' "$*" >&2; }

# stop NAME PATTERN: TERM the recorded pid (if it is still the process we started), then KILL after 15 s
stop() {
    local name="$1" pat="$2" f="$NB_RUN_DIR/$1.pid" pid
    [ -s "$f" ] || { log "$name: no pid file"; return 0; }
    pid="$(cat "$f")"
    if [ -d "/proc/$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pat"; then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null
        for _ in $(seq 150); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
        if [ -d "/proc/$pid" ]; then log "$name did not exit; SIGKILL $pid"; kill -KILL "$pid" 2>/dev/null; fi
    else
        log "$name: pid $pid is not running (or is not ours); nothing to stop"
    fi
    rm -f "$f"
}

stop listener netbox-webhook-listener
stop web netbox
stop rqworker rqworker
stop redis redis-server

if [ "$NB_DOWN_KEEP_PG" != 1 ] && [ -s "$NB_RUN_DIR/postgres.pid" ]; then
    pid="$(cat "$NB_RUN_DIR/postgres.pid")"
    if [ -s "$NB_PGDATA/postmaster.pid" ] && [ "$(head -1 "$NB_PGDATA/postmaster.pid")" = "$pid" ]; then
        if [ -z "$NB_PGBIN" ]; then
            NB_PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r | head -1)"
        fi
        log "stopping postgres (pid $pid, $NB_PGDATA)"
        if [ "$(id -u)" = 0 ]; then
            runuser -u postgres -- "$NB_PGBIN/pg_ctl" -D "$NB_PGDATA" -m fast -w stop >/dev/null
        else
            "$NB_PGBIN/pg_ctl" -D "$NB_PGDATA" -m fast -w stop >/dev/null
        fi
    else
        log "postgres: pid $pid is not the running postmaster of $NB_PGDATA; nothing to stop"
    fi
    rm -f "$NB_RUN_DIR/postgres.pid"
fi
log "done"
