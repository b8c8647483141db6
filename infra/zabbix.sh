#!/usr/bin/env bash
# zabbix.sh - a real Zabbix JSON-RPC API (6.0 or 7.0) on loopback, for tests; adapted from the
# verified peer scripts (one script for both versions: they differ only in where the code comes from).
#
#   zabbix.sh up     install what is missing, start PostgreSQL + php -S, print nothing but logs;
#                    writes $ZBX_DATA_DIR/env (ZBX_API_URL, ZBX_TOKEN, ZBX_USER, ZBX_PASSWORD, ZBX_VERSION)
#   zabbix.sh down   stop what `up` started for this data dir (php process group, PostgreSQL), only that
#   zabbix.sh purge  down, then delete the data dir
#
#   6.0: Debian bookworm packages zabbix-frontend-php + zabbix-server-pgsql (its SQL only).
#   7.0: Debian trixie's packages fetched with `apt-get download` (private apt state) and unpacked with
#        dpkg-deb -x into a cache; the unpacked frontend is patched to read its own config file, so
#        6.0 and 7.0 run side by side. Nothing of 7.0 is installed into the system.
#   The API works without the Zabbix server daemon. Default login Admin/zabbix.
#
# Environment:
#   ZBX_VERSION  6.0 | 7.0                     (required)
#   ZBX_DATA_DIR                               (required) this instance's pgdata, logs, pids, env
#   ZBX_PORT, ZBX_PG_PORT                      (required) HTTP API port, private PostgreSQL port (127.0.0.1)
#   ZBX_PHP_WORKERS [4]                        concurrent PHP requests
#   NZJ_INFRA_CACHE [<repo>/.infra]            downloaded/unpacked 7.0 packages (kept between runs)
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${ZBX_VERSION:?set ZBX_VERSION to 6.0 or 7.0}" "${ZBX_DATA_DIR:?set ZBX_DATA_DIR}"
ZBX_HOST=127.0.0.1
ZBX_PHP_WORKERS=${ZBX_PHP_WORKERS:-4}
CACHE=${NZJ_INFRA_CACHE:-$REPO/.infra}
ZBX_USER=Admin
ZBX_PASSWORD=zabbix
DB_NAME=zabbix
DB_USER=zabbix
DB_PASSWORD=zabbix
MARKER="managed-by: nzj infra/zabbix.sh"

log() { printf '[zabbix %s] %s\n' "$ZBX_VERSION" "$*" >&2; }
die() { printf '[zabbix %s] ERROR: %s\n' "$ZBX_VERSION" "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (PostgreSQL runs as user postgres; packages are installed with apt-get)"

case "$ZBX_VERSION" in
  6.0) FRONTEND=/usr/share/zabbix
       SCHEMA_DIR=/usr/share/zabbix-server-pgsql
       CONF=/etc/zabbix/zabbix.conf.php ;;          # compiled into the Debian 6.0 frontend
  7.0) PREFIX=$CACHE/zabbix70/prefix
       FRONTEND=$PREFIX/usr/share/zabbix
       SCHEMA_DIR=$PREFIX/usr/share/zabbix-server-pgsql
       CONF=$PREFIX/etc/zabbix.conf.php ;;          # patched into the unpacked CConfigFile.php
  *) die "ZBX_VERSION must be 6.0 or 7.0" ;;
esac
PGDATA=$ZBX_DATA_DIR/pgdata
LOGDIR=$ZBX_DATA_DIR/log
RUNDIR=$ZBX_DATA_DIR/run
PHP_PIDFILE=$RUNDIR/php.pid
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
as_pg() { (cd / && runuser -u postgres -- "$@"); }

# ---------------------------------------------------------------- install (idempotent)
# The machine's own Debian mirror (not debian-security), so the trixie download goes wherever apt
# already goes: a local mirror or proxy works, and no host name is written here. deb822 sources
# first, then the one-line format.
debian_mirror() {
  local uri
  uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | grep -v -- '-security' | grep -m1 -E '^(https?|file)://' || true)
  if [ -z "$uri" ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):\/\//) { print $i; break } }' \
          /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | grep -v -- '-security' | head -1 || true)
  fi
  [ -n "$uri" ] && printf '%s\n' "${uri%/}"
}

install_packages() {
  local want=(zabbix-frontend-php zabbix-server-pgsql php-cli php-pgsql php-bcmath php-mbstring php-gd
              php-xml php-ldap postgresql curl debian-archive-keyring)
  local missing=()
  for p in "${want[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
}

unpack_70() {
  local apt_dir=$CACHE/zabbix70/apt debs=$CACHE/zabbix70/debs arch frontend_deb server_deb stamp
  arch=$(dpkg --print-architecture)
  find_debs() {
    frontend_deb=$(ls -1 "$debs"/zabbix-frontend-php_*7.0.*_all.deb 2>/dev/null | sort -V | tail -1 || true)
    server_deb=$(ls -1 "$debs"/zabbix-server-pgsql_*7.0.*_"$arch".deb 2>/dev/null | sort -V | tail -1 || true)
    [ -n "$frontend_deb" ] && [ -n "$server_deb" ]
  }
  if ! find_debs; then
    log "downloading zabbix-frontend-php + zabbix-server-pgsql 7.0 from trixie (apt-get download; nothing installed)"
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$debs"
    local mirror
    mirror=$(debian_mirror) || die "no Debian mirror in the machine's apt sources (/etc/apt/sources.list.d/*.sources, /etc/apt/sources.list)"
    log "Debian mirror from the machine's apt sources: $mirror"
    printf 'Types: deb\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" > "$apt_dir/trixie.sources"
    local trixie=(apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$apt_dir"
                  -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache")
    "${trixie[@]}" -q update >"$apt_dir/update.log" 2>&1 || { tail -20 "$apt_dir/update.log" >&2; die "apt-get update (trixie) failed"; }
    chown _apt "$debs" 2>/dev/null || true
    (cd "$debs" && "${trixie[@]}" -q download zabbix-frontend-php zabbix-server-pgsql) >"$apt_dir/download.log" 2>&1 \
      || { tail -20 "$apt_dir/download.log" >&2; die "apt-get download (trixie) failed"; }
    find_debs || die "downloaded packages are not Zabbix 7.0: $(ls "$debs")"
  fi
  stamp="$(basename "$frontend_deb") $(basename "$server_deb") -> $CONF"
  local cfg_php=$FRONTEND/include/classes/core/CConfigFile.php
  if [ "$(cat "$PREFIX/.stamp" 2>/dev/null)" != "$stamp" ] || ! grep -qF "CONFIG_FILE_PATH = '$CONF';" "$cfg_php" 2>/dev/null; then
    log "unpacking $(basename "$frontend_deb") into $PREFIX"
    rm -rf -- "$FRONTEND" "$SCHEMA_DIR"
    mkdir -p "$PREFIX"
    dpkg-deb -x "$frontend_deb" "$PREFIX"
    dpkg-deb -x "$server_deb" "$PREFIX"
    grep -q "const CONFIG_FILE_PATH = '" "$cfg_php" || die "CONFIG_FILE_PATH not found in $cfg_php"
    sed -i "s|const CONFIG_FILE_PATH = '[^']*';|const CONFIG_FILE_PATH = '$CONF';|" "$cfg_php"
    [ -e "$PREFIX/usr/share/fonts" ] || ln -s /usr/share/fonts "$PREFIX/usr/share/fonts"
    printf '%s\n' "$stamp" > "$PREFIX/.stamp"
  fi
}

# ---------------------------------------------------------------- API helpers (auth in the body: 6.0 and 7.0)
api() {  # api METHOD PARAMS_JSON [AUTH] -> raw JSON response
  local auth=""
  [ -n "${3:-}" ] && auth=",\"auth\":\"$3\""
  curl -sS --max-time 60 -X POST -H 'Content-Type: application/json-rpc' \
    -d "{\"jsonrpc\":\"2.0\",\"method\":\"$1\",\"params\":$2$auth,\"id\":1}" "http://$ZBX_HOST:$ZBX_PORT/api_jsonrpc.php"
}
json_result() { php -r '$r=json_decode(stream_get_contents(STDIN),true); if(!is_array($r)||!array_key_exists("result",$r)){fwrite(STDERR,"API error: ".json_encode($r["error"]??$r)."\n"); exit(1);} $v=$r["result"]; echo is_scalar($v)?$v:json_encode($v);'; }
api_up() { [[ "$(api apiinfo.version '{}' 2>/dev/null)" == *"\"result\":\"$ZBX_VERSION."* ]]; }

up() {
  : "${ZBX_PORT:?set ZBX_PORT}" "${ZBX_PG_PORT:?set ZBX_PG_PORT}"
  install_packages
  [ "$ZBX_VERSION" = 7.0 ] && unpack_70
  for f in schema images data; do [ -f "$SCHEMA_DIR/$f.sql.gz" ] || die "$SCHEMA_DIR/$f.sql.gz missing"; done
  [ -x "$PGBIN/initdb" ] || die "PostgreSQL server binaries not found"

  mkdir -p "$ZBX_DATA_DIR" "$LOGDIR" "$RUNDIR"
  chmod 755 "$ZBX_DATA_DIR"   # postgres must traverse it
  chown postgres: "$LOGDIR"
  runuser -u postgres -- test -x "$ZBX_DATA_DIR" || die "user postgres cannot enter $ZBX_DATA_DIR (a private parent dir?)"

  # PostgreSQL: a private cluster on its own port; the system cluster is never touched.
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"; chown postgres: "$PGDATA"; chmod 700 "$PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U postgres -E UTF8 --locale=C.UTF-8 --auth-local=trust \
      --auth-host=scram-sha-256 >"$LOGDIR/initdb.log" 2>&1 || { cat "$LOGDIR/initdb.log" >&2; die "initdb failed"; }
    as_pg tee -a "$PGDATA/postgresql.conf" >/dev/null <<EOF
# $MARKER
listen_addresses = '127.0.0.1'
port = $ZBX_PG_PORT
unix_socket_directories = '$PGDATA'
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    printf 'local all all trust\nhost all all 127.0.0.1/32 scram-sha-256\n' | as_pg tee "$PGDATA/pg_hba.conf" >/dev/null
  fi
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    log "starting PostgreSQL on 127.0.0.1:$ZBX_PG_PORT"
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -l "$LOGDIR/postgresql.log" -w -t 60 start >/dev/null \
      || { tail -20 "$LOGDIR/postgresql.log" >&2; die "PostgreSQL did not start"; }
  fi
  psql_admin() { PGOPTIONS='-c client_min_messages=warning' as_pg "$PGBIN/psql" -X -h "$PGDATA" -p "$ZBX_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
  if [ "$(psql_admin -d postgres -c "select 1 from pg_database where datname='$DB_NAME'")" != 1 ]; then
    log "loading the Zabbix $ZBX_VERSION schema (schema, images, data; ~30-60 s)"
    psql_admin -d postgres -c "create role $DB_USER login password '$DB_PASSWORD'" \
      -c "create database $DB_NAME owner $DB_USER encoding 'UTF8' template template0"
    for f in schema images data; do
      zcat "$SCHEMA_DIR/$f.sql.gz" | PGOPTIONS='-c client_min_messages=warning' \
        as_pg "$PGBIN/psql" -X -h "$PGDATA" -p "$ZBX_PG_PORT" -U "$DB_USER" -d "$DB_NAME" -v ON_ERROR_STOP=1 -q >/dev/null \
        || die "loading $f.sql.gz failed"
    done
    # Without planner statistics, linking a template to a host ran for minutes instead of a fraction of a second.
    psql_admin -d "$DB_NAME" -c "vacuum (freeze, analyze)"
  fi

  # Frontend config: DB settings come from the PHP process environment, so instances can share the file.
  local conf_text
  conf_text=$(cat <<'EOF'
<?php
// managed-by: nzj infra/zabbix.sh - local Zabbix API test instance(s); DB settings from the environment.
$DB['TYPE']     = 'POSTGRESQL';
$DB['SERVER']   = getenv('ZBX_DB_SERVER') ?: '127.0.0.1';
$DB['PORT']     = getenv('ZBX_DB_PORT') ?: '5432';
$DB['DATABASE'] = getenv('ZBX_DB_NAME') ?: 'zabbix';
$DB['USER']     = getenv('ZBX_DB_USER') ?: 'zabbix';
$DB['PASSWORD'] = getenv('ZBX_DB_PASSWORD') ?: 'zabbix';
$DB['SCHEMA']   = '';
$DB['ENCRYPTION']  = false;
$DB['KEY_FILE']    = '';
$DB['CERT_FILE']   = '';
$DB['CA_FILE']     = '';
$DB['VERIFY_HOST'] = false;
$DB['CIPHER_LIST'] = '';
$DB['VAULT']           = '';
$DB['VAULT_URL']       = '';
$DB['VAULT_PREFIX']    = '';
$DB['VAULT_DB_PATH']   = '';
$DB['VAULT_TOKEN']     = '';
$DB['VAULT_CERT_FILE'] = '';
$DB['VAULT_KEY_FILE']  = '';
$DB['DOUBLE_IEEE754']  = true;
$ZBX_SERVER      = '127.0.0.1';
$ZBX_SERVER_PORT = '10051';
$ZBX_SERVER_NAME = 'nzj-test';
$IMAGE_FORMAT_DEFAULT = IMAGE_FORMAT_PNG;
EOF
)
  if [ -f "$CONF" ] && ! grep -q "$MARKER" "$CONF"; then
    mv "$CONF" "$CONF.bak.$(date +%Y%m%d%H%M%S)"; log "moved a foreign $CONF aside"
  fi
  if [ "$(cat "$CONF" 2>/dev/null)" != "$conf_text" ]; then
    mkdir -p "$(dirname "$CONF")"
    printf '%s\n' "$conf_text" > "$CONF.tmp.$$" && chmod 644 "$CONF.tmp.$$" && mv "$CONF.tmp.$$" "$CONF"
  fi

  if ! api_up; then
    (exec 3<>"/dev/tcp/127.0.0.1/$ZBX_PORT") 2>/dev/null && die "port $ZBX_PORT is in use by something else"
    log "starting php -S $ZBX_HOST:$ZBX_PORT"
    # setsid: its own process group, so `down` stops the server and its forked workers together.
    ( cd "$FRONTEND" && exec env PHP_CLI_SERVER_WORKERS="$ZBX_PHP_WORKERS" \
        ZBX_DB_SERVER=127.0.0.1 ZBX_DB_PORT="$ZBX_PG_PORT" ZBX_DB_NAME="$DB_NAME" \
        ZBX_DB_USER="$DB_USER" ZBX_DB_PASSWORD="$DB_PASSWORD" \
        setsid php -q -d opcache.enable=1 -d opcache.memory_consumption=128 \
        -d memory_limit=512M -d post_max_size=64M -d max_execution_time=300 -d date.timezone=UTC \
        -d display_errors=0 -d log_errors=1 -d error_log="$LOGDIR/php-errors.log" \
        -S "$ZBX_HOST:$ZBX_PORT" -t "$FRONTEND" </dev/null >>"$LOGDIR/php.log" 2>&1 ) &
    echo $! > "$PHP_PIDFILE"
    for _ in $(seq 1 150); do api_up && break; sleep 0.2; done
    api_up || { tail -20 "$LOGDIR/php.log" "$LOGDIR/php-errors.log" >&2 2>/dev/null; die "API did not come up"; }
  fi

  local version session tid token
  version=$(api apiinfo.version '{}' | json_result)
  token=$(cat "$ZBX_DATA_DIR/api_token" 2>/dev/null || true)
  if [ -z "$token" ] || [[ "$(api user.checkAuthentication "{\"token\":\"$token\"}")" != *'"result"'* ]]; then
    session=$(api user.login "{\"username\":\"$ZBX_USER\",\"password\":\"$ZBX_PASSWORD\"}" | json_result) || die "user.login failed"
    tid=$(api token.create "{\"name\":\"nzj-tests-$$\",\"userid\":\"1\"}" "$session" | json_result \
          | php -r 'echo json_decode(stream_get_contents(STDIN),true)["tokenids"][0];')
    token=$(api token.generate "[\"$tid\"]" "$session" | json_result | php -r 'echo json_decode(stream_get_contents(STDIN),true)[0]["token"];')
    [ -n "$token" ] || die "could not create an API token"
    (umask 077; printf '%s\n' "$token" > "$ZBX_DATA_DIR/api_token")
    api user.logout '[]' "$session" >/dev/null || true
  fi
  cat > "$ZBX_DATA_DIR/env" <<EOF
export ZBX_API_URL='http://$ZBX_HOST:$ZBX_PORT/api_jsonrpc.php'
export ZBX_USER='$ZBX_USER'
export ZBX_PASSWORD='$ZBX_PASSWORD'
export ZBX_TOKEN='$token'
export ZBX_VERSION='$version'
EOF
  log "Zabbix $version API up at http://$ZBX_HOST:$ZBX_PORT/api_jsonrpc.php (data $ZBX_DATA_DIR)"
}

down() {
  [ -d "$ZBX_DATA_DIR" ] || return 0
  if [ -f "$PHP_PIDFILE" ]; then
    local pid; pid=$(cat "$PHP_PIDFILE")
    if [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)" == *"-S $ZBX_HOST:"* ]] \
       && [ "$(ps -o pgid= -p "$pid" | tr -d ' ')" = "$pid" ]; then
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do ps -eo pgid=,stat= | awk -v g="$pid" '$1==g && $2 !~ /^Z/' | grep -q . || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -f "$PHP_PIDFILE"
  fi
  if [ -f "$PGDATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
  fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  purge) down; rm -rf -- "$ZBX_DATA_DIR" ;;
  *) die "usage: zabbix.sh up|down|purge" ;;
esac
