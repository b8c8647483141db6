#!/usr/bin/env bash
# netbox-up.sh - bring up a real, local NetBox (the PyPI `netbox` wheel) on loopback, idempotently.
# Adapted from the verified peer script for `make e2e`: the venv is cached in <repo>/.infra, every
# other piece (PostgreSQL, Redis, config, tokens) lives in NB_ROOT; the webhook points at nzj serve.
#
#   PostgreSQL cluster of its own (initdb into $NB_PGDATA, port $NB_PGPORT, socket dir $NB_PGSOCKDIR)
#   redis-server of its own (port $NB_REDIS_PORT, no persistence)
#   NetBox web (runserver --noreload, or gunicorn) on http://$NB_HOST:$NB_PORT/
#   NetBox RQ worker (queues high default low) - webhooks are sent by this worker
#   optional: webhook listener on $NB_LISTENER_PORT + a Webhook and an Event Rule pointing at it
#
# Every process it starts is recorded in $NB_RUN_DIR/*.pid; netbox-down.sh stops exactly those.
# Run again at any time: what is already up is left alone, what is missing is (re)started.
# Needs: Python >= 3.12 (NetBox 4.7 requires it), PostgreSQL >= 14 server binaries, redis-server,
# libpq-dev + gcc (psycopg[c] is built from source). As root, PostgreSQL runs as the `postgres` user.
set -euo pipefail

NB_VERSION="${NB_VERSION:-4.7.3}"                 # PyPI `netbox` version to install
NB_WHEEL="${NB_WHEEL:-}"                          # optional local wheel/sdist path instead of PyPI
# NB_SOURCE: a NetBox source tree (`git clone --branch v4.2.9 https://github.com/netbox-community/netbox`)
# run with its own requirements.txt instead of the wheel: the versions PyPI does not carry (4.2-4.6),
# for infra/netbox-compat.sh. Its version is the tree's (netbox/release.yaml).
NB_SOURCE="${NB_SOURCE:-}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -n "$NB_SOURCE" ]; then
    NB_SOURCE="$(cd "$NB_SOURCE" && pwd)"
    NB_VERSION="$(sed -n 's/^version: *"\{0,1\}\([0-9.]*\)"\{0,1\}.*/\1/p' "$NB_SOURCE/netbox/release.yaml")"
    [ -n "$NB_VERSION" ] || { echo "[netbox-up] ERROR: $NB_SOURCE is not a NetBox source tree" >&2; exit 1; }
    NB_VENV="${NB_VENV:-$REPO/.infra/netbox-venv-$NB_VERSION}"
fi
NB_VENV="${NB_VENV:-$REPO/.infra/netbox-venv}"
NB_ROOT="${NB_ROOT:?set NB_ROOT (this instance: conf/, static/, run/, logs/, pg/)}"
NB_RUN_DIR="${NB_RUN_DIR:-$NB_ROOT/run}"
NB_LOG_DIR="${NB_LOG_DIR:-$NB_ROOT/logs}"
NB_PGDATA="${NB_PGDATA:-$NB_ROOT/pg}"
NB_PGPORT="${NB_PGPORT:-5434}"
NB_PGSOCKDIR="${NB_PGSOCKDIR:-$NB_PGDATA}"
NB_PGBIN="${NB_PGBIN:-}"                          # dir with initdb/pg_ctl; autodetected
NB_DB_NAME="${NB_DB_NAME:-netbox}"
NB_DB_USER="${NB_DB_USER:-netbox}"
NB_DB_PASS="${NB_DB_PASS:-netbox}"
NB_REDIS_PORT="${NB_REDIS_PORT:-6380}"
NB_HOST="${NB_HOST:-127.0.0.1}"
NB_PORT="${NB_PORT:-8001}"
NB_SERVER="${NB_SERVER:-runserver}"               # runserver | gunicorn
NB_GUNICORN_WORKERS="${NB_GUNICORN_WORKERS:-3}"
NB_ADMIN_USER="${NB_ADMIN_USER:-admin}"
NB_ADMIN_PASS="${NB_ADMIN_PASS:-admin}"
NB_ADMIN_EMAIL="${NB_ADMIN_EMAIL:-admin@example.com}"
NB_LISTENER="${NB_LISTENER:-0}"                   # 1: start the webhook listener (not used by nzj)
NB_LISTENER_PORT="${NB_LISTENER_PORT:-9009}"
NB_LISTENER_DIR="${NB_LISTENER_DIR:-$NB_ROOT/webhooks}"
NB_WEBHOOK_SETUP="${NB_WEBHOOK_SETUP:-1}"         # 1: create Webhook + Event Rule -> listener
NB_WEBHOOK_URL="${NB_WEBHOOK_URL:-http://127.0.0.1:$NB_LISTENER_PORT/hook}"
NB_WEBHOOK_SECRET="${NB_WEBHOOK_SECRET:-s3cret}"
NB_WEBHOOK_OBJECT_TYPES="${NB_WEBHOOK_OBJECT_TYPES:-dcim.device,virtualization.virtualmachine,dcim.interface,ipam.ipaddress}"
NB_START_TIMEOUT="${NB_START_TIMEOUT:-180}"
NB_RESTORE="${NB_RESTORE:-1}"                     # 1: an empty database is restored from NB_DUMP
NB_MIGRATE_ONLY="${NB_MIGRATE_ONLY:-0}"           # 1: stop after the migrations (infra/netbox-dump.sh)

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export NETBOX_ROOT="$NB_ROOT"
NB="$NB_VENV/bin/netbox"
if [ -n "$NB_SOURCE" ]; then
    # A source tree reads its configuration module from NETBOX_CONFIGURATION: ours, in $NB_ROOT/conf.
    export PYTHONPATH="$NB_ROOT" NETBOX_CONFIGURATION=conf.configuration
    NB="$NB_ROOT/run/netbox"
fi
NB_DUMP="${NB_DUMP:-$REPO/infra/netbox-$NB_VERSION.dump}"   # a migrated database (infra/netbox-dump.sh)

log() { printf '[netbox-up] %s\n' "$*" >&2; }
die() { printf '[netbox-up] ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$NB_ROOT" "$NB_RUN_DIR" "$NB_LOG_DIR"

# ---------------------------------------------------------------- helpers
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# pid_alive PIDFILE PATTERN: the recorded pid runs and its command line contains PATTERN
pid_alive() {
    local f="$1" pat="$2" pid
    [ -s "$f" ] || return 1
    pid="$(cat "$f")"
    [ -d "/proc/$pid" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$pat"
}

# start_bg NAME PATTERN CMD...: start CMD detached (own session), log to $NB_LOG_DIR/NAME.log, pid to NAME.pid
start_bg() {
    local name="$1" pat="$2"; shift 2
    if pid_alive "$NB_RUN_DIR/$name.pid" "$pat"; then
        log "$name already running (pid $(cat "$NB_RUN_DIR/$name.pid"))"
        return 0
    fi
    log "starting $name"
    setsid nohup "$@" >>"$NB_LOG_DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$NB_RUN_DIR/$name.pid"
}

as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

find_python() {
    local c p
    for c in ${NB_PYTHON:-} python3.12 python3.13 python3.14 \
             $(ls -d $HOME/.pyenv/versions/3.1[2-9]*/bin/python3 2>/dev/null) python3; do
        p="$(command -v "$c" 2>/dev/null)" || continue
        if "$p" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
            echo "$p"; return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- 0. system packages
missing=()
for p in redis-server libpq-dev gcc postgresql; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
mkdir -p "$NB_ROOT" && chmod 755 "$NB_ROOT"   # postgres must enter it
[ "${NB_PACKAGES_ONLY:-0}" = 1 ] && exit 0        # with-peers.sh: apt first, the rest beside others

# ---------------------------------------------------------------- 1. venv + NetBox
if [ ! -x "$NB_VENV/bin/python" ]; then
    PY="$(find_python)" || die "NetBox $NB_VERSION needs Python >= 3.12; set NB_PYTHON=/path/to/python3.12"
    log "creating venv $NB_VENV with $PY"
    "$PY" -m venv "$NB_VENV"
    "$NB_VENV/bin/pip" install -q --upgrade pip
fi
if [ -n "$NB_SOURCE" ]; then
    if ! cmp -s "$NB_SOURCE/requirements.txt" "$NB_VENV/.requirements.txt" 2>/dev/null; then
        command -v pg_config >/dev/null || die "need libpq-dev (pg_config) to build psycopg[c]"
        log "installing NetBox $NB_VERSION's requirements.txt into $NB_VENV (takes ~2 min)"
        "$NB_VENV/bin/pip" install -q -r "$NB_SOURCE/requirements.txt"
        cp "$NB_SOURCE/requirements.txt" "$NB_VENV/.requirements.txt"
    fi
    # `netbox ARGS` as the wheel has it: the tree's manage.py; `upgrade` as upgrade.sh does it.
    mkdir -p "$NB_ROOT/run"
    cat >"$NB" <<EOF
#!/usr/bin/env bash
if [ "\$1" = upgrade ]; then
    shift; "$NB_VENV/bin/python" "$NB_SOURCE/netbox/manage.py" migrate "\$@" && exec "$NB_VENV/bin/python" "$NB_SOURCE/netbox/manage.py" collectstatic "\$@"
fi
exec "$NB_VENV/bin/python" "$NB_SOURCE/netbox/manage.py" "\$@"
EOF
    chmod +x "$NB"
    installed="$NB_VERSION"
else
    installed="$("$NB_VENV/bin/python" -c 'from importlib.metadata import version; print(version("netbox"))' 2>/dev/null || true)"
fi
if [ "$installed" != "$NB_VERSION" ]; then
    command -v pg_config >/dev/null || {
        [ "$(id -u)" = 0 ] && apt-get install -y -q libpq-dev gcc >/dev/null || die "need libpq-dev (pg_config) to build psycopg[c]"; }
    log "installing netbox ${NB_WHEEL:-==$NB_VERSION} into $NB_VENV (takes ~2 min)"
    if [ -n "$NB_WHEEL" ]; then
        "$NB_VENV/bin/pip" install -q "$NB_WHEEL"
    else
        "$NB_VENV/bin/pip" install -q "netbox==$NB_VERSION"
    fi
fi

# ---------------------------------------------------------------- 2. PostgreSQL
if [ -z "$NB_PGBIN" ]; then
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r) "$(dirname "$(command -v pg_ctl 2>/dev/null || echo /x/x)")"; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { NB_PGBIN="$d"; break; }
    done
fi
[ -n "$NB_PGBIN" ] || die "PostgreSQL server binaries not found (apt-get install postgresql); or set NB_PGBIN"

if [ ! -s "$NB_PGDATA/PG_VERSION" ]; then
    log "initdb $NB_PGDATA"
    mkdir -p "$NB_PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$NB_PGDATA"
    chmod 700 "$NB_PGDATA"
    as_pg "$NB_PGBIN/initdb" -D "$NB_PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$NB_LOG_DIR/initdb.log" 2>&1 \
        || { cat "$NB_LOG_DIR/initdb.log" >&2; die "initdb failed"; }
fi
if as_pg "$NB_PGBIN/pg_ctl" -D "$NB_PGDATA" status >/dev/null 2>&1; then
    log "postgres already running (pid $(head -1 "$NB_PGDATA/postmaster.pid"))"
else
    port_open 127.0.0.1 "$NB_PGPORT" && die "port $NB_PGPORT is taken by something else"
    log "starting postgres on 127.0.0.1:$NB_PGPORT (socket dir $NB_PGSOCKDIR)"
    as_pg "$NB_PGBIN/pg_ctl" -D "$NB_PGDATA" -l "$NB_PGDATA/server.log" -w -t 60 start \
        -o "-p $NB_PGPORT -k $NB_PGSOCKDIR -c listen_addresses=127.0.0.1" >/dev/null \
        || { tail -20 "$NB_PGDATA/server.log" >&2; die "postgres did not start"; }
    head -1 "$NB_PGDATA/postmaster.pid" >"$NB_RUN_DIR/postgres.pid"
fi
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$NB_PGSOCKDIR" -p "$NB_PGPORT" -U postgres -d postgres)
if [ "$("${PSQL[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='$NB_DB_USER'")" != 1 ]; then
    "${PSQL[@]}" -c "CREATE ROLE \"$NB_DB_USER\" LOGIN PASSWORD '$NB_DB_PASS'"
fi
if [ "$("${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='$NB_DB_NAME'")" != 1 ]; then
    "${PSQL[@]}" -c "CREATE DATABASE \"$NB_DB_NAME\" OWNER \"$NB_DB_USER\""
fi
echo "$NB_PGPORT" >"$NB_RUN_DIR/pgport"
# A new database from the dump of a freshly migrated one: seconds instead of 10-15 minutes of
# migrations; `netbox migrate` below confirms (and applies) whatever the dump lacks.
RESTORED=0
migrated="$("${PSQL[@]}" -d "$NB_DB_NAME" -tAc "SELECT to_regclass('public.django_migrations') IS NOT NULL")"
if [ "$migrated" != t ] && [ "$NB_RESTORE" = 1 ] && [ -s "$NB_DUMP" ]; then
    log "restoring the migrated database from $NB_DUMP"
    as_pg pg_restore --no-owner --role="$NB_DB_USER" -h "$NB_PGSOCKDIR" -p "$NB_PGPORT" -U postgres \
        -d "$NB_DB_NAME" "$NB_DUMP" || die "pg_restore of $NB_DUMP failed"
    RESTORED=1
fi

# ---------------------------------------------------------------- 3. Redis
if redis-cli -h 127.0.0.1 -p "$NB_REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    pid_alive "$NB_RUN_DIR/redis.pid" redis-server || log "WARNING: a redis not started by this script answers on $NB_REDIS_PORT; using it"
else
    log "starting redis-server on 127.0.0.1:$NB_REDIS_PORT (no persistence)"
    redis-server --port "$NB_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
        --dir "$NB_RUN_DIR" --pidfile "$NB_RUN_DIR/redis.pid" --logfile "$NB_LOG_DIR/redis.log"
    for _ in $(seq 50); do redis-cli -p "$NB_REDIS_PORT" ping 2>/dev/null | grep -q PONG && break; sleep 0.1; done
fi

# ---------------------------------------------------------------- 4. configuration
mkdir -p "$NB_ROOT/conf"
SECRETS="$NB_ROOT/conf/secrets.env"
if [ ! -s "$SECRETS" ]; then
    gen() { "$NB_VENV/bin/python" -c 'import secrets,string; a=string.ascii_letters+string.digits+"!@#%^&*(-_=+)"; print("".join(secrets.choice(a) for _ in range(64)))'; }
    umask 077
    { echo "NB_SECRET_KEY='$(gen)'"; echo "NB_TOKEN_PEPPER='$(gen)'"; } >"$SECRETS"
    umask 022
fi
# shellcheck disable=SC1090
. "$SECRETS"
touch "$NB_ROOT/conf/__init__.py"
# NetBox 4.2 knows only DATABASE; 4.3 and later prefer DATABASES (and refuse both at once).
case "$NB_VERSION" in 4.2.*) DB_SETTING="DATABASE = _DB" ;; *) DB_SETTING="DATABASES = {'default': _DB}" ;; esac
cat >"$NB_ROOT/conf/configuration.py.new" <<EOF
# Generated by netbox-up.sh - edits are overwritten on the next run (secrets live in secrets.env).
ALLOWED_HOSTS = ['*']
_DB = {
    'ENGINE': 'django.db.backends.postgresql',
    'NAME': '$NB_DB_NAME',
    'USER': '$NB_DB_USER',
    'PASSWORD': '$NB_DB_PASS',
    'HOST': '127.0.0.1',
    'PORT': '$NB_PGPORT',
    'CONN_MAX_AGE': 300,
}
$DB_SETTING
REDIS = {
    'tasks': {'HOST': '127.0.0.1', 'PORT': $NB_REDIS_PORT, 'USERNAME': '', 'PASSWORD': '', 'DATABASE': 0, 'SSL': False},
    'caching': {'HOST': '127.0.0.1', 'PORT': $NB_REDIS_PORT, 'USERNAME': '', 'PASSWORD': '', 'DATABASE': 1, 'SSL': False},
}
SECRET_KEY = '$NB_SECRET_KEY'
# v2 API tokens (NetBox >= 4.5) are HMAC-SHA256(pepper, token); at least one pepper (>= 50 chars) is required.
API_TOKEN_PEPPERS = {1: '$NB_TOKEN_PEPPER'}
DEBUG = False
TIME_ZONE = 'UTC'
# This machine has no internet: no release check, no census, no plugin catalogue fetches.
RELEASE_CHECK_URL = None
CENSUS_REPORTING_ENABLED = False
ISOLATED_DEPLOYMENT = True
LOGGING = {
    'version': 1,
    'disable_existing_loggers': False,
    'handlers': {'console': {'class': 'logging.StreamHandler'}},
    'loggers': {
        'netbox.webhooks': {'handlers': ['console'], 'level': 'INFO'},
        'netbox.events_processor': {'handlers': ['console'], 'level': 'INFO'},
    },
}
EOF
if ! cmp -s "$NB_ROOT/conf/configuration.py.new" "$NB_ROOT/conf/configuration.py" 2>/dev/null; then
    mv "$NB_ROOT/conf/configuration.py.new" "$NB_ROOT/conf/configuration.py"
    CONFIG_CHANGED=1
else
    rm -f "$NB_ROOT/conf/configuration.py.new"
    CONFIG_CHANGED=0
fi

# ---------------------------------------------------------------- 5. migrate / static / users
STAMP="$NB_RUN_DIR/.upgraded-$NB_VERSION"
if [ "$RESTORED" = 1 ]; then
    log "netbox migrate: confirms nothing is left to apply after the restore; then the static files"
    { "$NB" migrate --no-input && "$NB" collectstatic --no-input; } >"$NB_LOG_DIR/upgrade.log" 2>&1 \
        || { tail -30 "$NB_LOG_DIR/upgrade.log" >&2; die "netbox migrate after the restore failed"; }
    grep -q "No migrations to apply" "$NB_LOG_DIR/upgrade.log" || log "WARNING: migrations ran after the restore: regenerate $NB_DUMP (infra/netbox-dump.sh)"
    touch "$STAMP"
elif [ ! -e "$STAMP" ] || ! "$NB" migrate --check >/dev/null 2>&1; then
    log "running 'netbox upgrade' (migrations, static files, search index) - first run takes a few minutes"
    "$NB" upgrade --no-input >"$NB_LOG_DIR/upgrade.log" 2>&1 || { tail -30 "$NB_LOG_DIR/upgrade.log" >&2; die "netbox upgrade failed"; }
    touch "$STAMP"
fi
if [ "$NB_MIGRATE_ONLY" = 1 ]; then
    log "migrated (NB_MIGRATE_ONLY): no users, tokens or servers"
    exit 0
fi

TOKEN_FILE="$NB_RUN_DIR/api_token"          # v2: nbt_<key>.<secret>  -> "Authorization: Bearer <that>"
TOKEN_V1_FILE="$NB_RUN_DIR/api_token_v1"    # v1 (legacy) 40 chars   -> "Authorization: Token <that>"
# Django >= 5.2 imports every model into `shell` unless told not to; older ones lack the flag.
no_imports="$("$NB_VENV/bin/python" -c 'import django; print("--no-imports" if django.VERSION >= (5, 2) else "")')"
NB_ADMIN_USER="$NB_ADMIN_USER" NB_ADMIN_PASS="$NB_ADMIN_PASS" NB_ADMIN_EMAIL="$NB_ADMIN_EMAIL" \
TOKEN_FILE="$TOKEN_FILE" TOKEN_V1_FILE="$TOKEN_V1_FILE" \
"$NB" shell $no_imports -c '
import os, secrets, string
from users.models import Token, User
name, pw, email = os.environ["NB_ADMIN_USER"], os.environ["NB_ADMIN_PASS"], os.environ["NB_ADMIN_EMAIL"]
u, created = User.objects.get_or_create(username=name, defaults={"email": email})
if created or not u.check_password(pw) or not (u.is_superuser and u.is_active):
    u.set_password(pw); u.is_superuser = True; u.is_staff = True; u.is_active = True; u.email = u.email or email
    u.save()
alnum = string.ascii_letters + string.digits
def rnd(n): return "".join(secrets.choice(alnum) for _ in range(n))
v2 = any(f.name == "version" for f in Token._meta.get_fields())   # NetBox >= 4.5
if not v2:
    # NetBox < 4.5 has only the 40-character token; it stands for both.
    path = os.environ["TOKEN_FILE"]
    plain = open(path).read().strip() if os.path.exists(path) else ""
    if not (plain and Token.objects.filter(key=plain, user=u).exists()):
        plain = rnd(40)
        Token.objects.create(user=u, key=plain, description="netbox-up.sh", write_enabled=True)
    for path in (os.environ["TOKEN_FILE"], os.environ["TOKEN_V1_FILE"]):
        with open(path, "w") as fh: fh.write(plain + "\n")
    raise SystemExit(0)
from users.constants import TOKEN_PREFIX
# v2 token with a plaintext we keep in TOKEN_FILE (NetBox stores only key + HMAC digest)
path = os.environ["TOKEN_FILE"]
ok = False
if os.path.exists(path):
    key, _, plain = open(path).read().strip().removeprefix(TOKEN_PREFIX).partition(".")
    t = Token.objects.filter(version=2, key=key, user=u).first()
    ok = bool(t and t.validate(plain) and t.is_active)
if not ok:
    key, plain = rnd(12), rnd(40)
    t = Token(user=u, version=2, key=key, token=plain, description="netbox-up.sh v2", write_enabled=True)
    t.full_clean(); t.save()
    with open(path, "w") as fh: fh.write(f"{TOKEN_PREFIX}{key}.{plain}\n")
# legacy v1 token (still accepted by 4.7 as "Token <40 chars>")
path = os.environ["TOKEN_V1_FILE"]
plain = open(path).read().strip() if os.path.exists(path) else ""
if not (plain and Token.objects.filter(version=1, plaintext=plain, user=u).exists()):
    plain = rnd(40)
    t = Token(user=u, version=1, token=plain, description="netbox-up.sh v1", write_enabled=True)
    t.full_clean(); t.save()
    with open(path, "w") as fh: fh.write(plain + "\n")
'
chmod 600 "$TOKEN_FILE" "$TOKEN_V1_FILE"
TOKEN="$(cat "$TOKEN_FILE")"
case "$TOKEN" in nbt_*) AUTH="Bearer $TOKEN" ;; *) AUTH="Token $TOKEN" ;; esac

# ---------------------------------------------------------------- 6. web + worker (+ listener)
if [ "$CONFIG_CHANGED" = 1 ]; then
    # configuration changed under running processes: restart the ones we started
    for n in web rqworker; do
        if pid_alive "$NB_RUN_DIR/$n.pid" "$NB_VENV"; then
            pid="$(cat "$NB_RUN_DIR/$n.pid")"
            log "config changed: restarting $n (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 300); do [ -d "/proc/$pid" ] || break; sleep 0.1; done   # RQ shuts down warm
            [ -d "/proc/$pid" ] && kill -KILL "$pid" 2>/dev/null || true
            rm -f "$NB_RUN_DIR/$n.pid"
        fi
    done
fi
if ! pid_alive "$NB_RUN_DIR/web.pid" "$NB_VENV" && port_open "$NB_HOST" "$NB_PORT"; then
    die "$NB_HOST:$NB_PORT is taken by a process this script did not start"
fi
if [ "$NB_SERVER" = gunicorn ]; then
    start_bg web "$NB_VENV" env NETBOX_ROOT="$NB_ROOT" "$NB_VENV/bin/gunicorn" --bind "$NB_HOST:$NB_PORT" \
        --workers "$NB_GUNICORN_WORKERS" --threads 3 --timeout 120 --max-requests 5000 --max-requests-jitter 500 \
        --access-logfile - netbox.wsgi
else
    # --insecure: serve static files although DEBUG=False (no web server in front)
    start_bg web "$NB_VENV" env NETBOX_ROOT="$NB_ROOT" "$NB" runserver "$NB_HOST:$NB_PORT" --noreload --insecure
fi
start_bg rqworker "$NB_VENV" env NETBOX_ROOT="$NB_ROOT" "$NB" rqworker high default low

if [ "$NB_LISTENER" = 1 ]; then
    if ! pid_alive "$NB_RUN_DIR/listener.pid" netbox-webhook-listener && port_open 127.0.0.1 "$NB_LISTENER_PORT"; then
        log "WARNING: 127.0.0.1:$NB_LISTENER_PORT is taken by another process; not starting the listener"
    else
        start_bg listener netbox-webhook-listener "$NB_VENV/bin/python" -u "$SCRIPT_DIR/netbox-webhook-listener.py" \
            --host 127.0.0.1 --port "$NB_LISTENER_PORT" --dir "$NB_LISTENER_DIR" --secret "$NB_WEBHOOK_SECRET"
    fi
fi

URL="http://$NB_HOST:$NB_PORT"
log "waiting for $URL/api/status/"
deadline=$((SECONDS + NB_START_TIMEOUT))
until curl -sf -o /dev/null -H "Authorization: $AUTH" "$URL/api/status/"; do
    pid_alive "$NB_RUN_DIR/web.pid" "$NB_VENV" || { tail -30 "$NB_LOG_DIR/web.log" >&2; die "web server exited"; }
    [ $SECONDS -lt $deadline ] || { tail -30 "$NB_LOG_DIR/web.log" >&2; die "web server not answering after ${NB_START_TIMEOUT}s"; }
    sleep 1
done

# ---------------------------------------------------------------- 7. webhook + event rule (idempotent, by name)
if [ "$NB_WEBHOOK_SETUP" = 1 ]; then
    NB_URL="$URL" NB_AUTH="$AUTH" NB_WEBHOOK_URL="$NB_WEBHOOK_URL" NB_WEBHOOK_SECRET="$NB_WEBHOOK_SECRET" \
    NB_WEBHOOK_OBJECT_TYPES="$NB_WEBHOOK_OBJECT_TYPES" "$NB_VENV/bin/python" - <<'PYEOF'
import json, os, urllib.parse, urllib.request
base, auth = os.environ['NB_URL'], os.environ['NB_AUTH']
def api(method, path, body=None):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                 headers={'Authorization': auth, 'Content-Type': 'application/json',
                                          'Accept': 'application/json'})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)
def upsert(path, name, body):
    found = api('GET', f'{path}?name={urllib.parse.quote(name)}')['results']
    if found:
        return api('PATCH', f"{path}{found[0]['id']}/", body)
    return api('POST', path, body)
wh = upsert('/api/extras/webhooks/', 'nzj', {
    'name': 'nzj', 'payload_url': os.environ['NB_WEBHOOK_URL'], 'http_method': 'POST',
    'http_content_type': 'application/json', 'secret': os.environ['NB_WEBHOOK_SECRET'], 'ssl_verification': False})
rule = upsert('/api/extras/event-rules/', 'nzj-rule', {
    'name': 'nzj-rule', 'enabled': True,
    'object_types': os.environ['NB_WEBHOOK_OBJECT_TYPES'].split(','),
    'event_types': ['object_created', 'object_updated', 'object_deleted'],
    'action_type': 'webhook', 'action_object_type': 'extras.webhook', 'action_object_id': wh['id']})
print(f"[netbox-up] webhook #{wh['id']} -> {wh['payload_url']}; event rule #{rule['id']} on {', '.join(rule['object_types'])}")
PYEOF
fi

cat <<EOF

NetBox $NB_VERSION is up
  URL:        $URL/            (UI login: $NB_ADMIN_USER / $NB_ADMIN_PASS)
  API token:  $TOKEN           (file $TOKEN_FILE)
  header:     Authorization: $AUTH
  legacy v1:  Authorization: Token $(cat "$TOKEN_V1_FILE")
  try:        curl -s -H "Authorization: $AUTH" -H "Accept: application/json" $URL/api/status/
  postgres:   127.0.0.1:$NB_PGPORT (socket $NB_PGSOCKDIR) db=$NB_DB_NAME user=$NB_DB_USER   redis: 127.0.0.1:$NB_REDIS_PORT
  pids:       $NB_RUN_DIR/*.pid   logs: $NB_LOG_DIR/
EOF
[ "$NB_LISTENER" = 1 ] && echo "  webhooks:   listener 127.0.0.1:$NB_LISTENER_PORT -> $NB_LISTENER_DIR (secret '$NB_WEBHOOK_SECRET')"
echo "NB_URL=$URL"
echo "NB_TOKEN=$TOKEN"
