# shellcheck shell=bash
# scripts/lib/postgres.sh: a PostgreSQL server for the development scripts, sourced by
# scripts/dev.sh, scripts/test.sh and scripts/bench.sh. It defines:
#
#   keyward_pg_up         With KEYWARD_DATABASE_URL set, uses that server as is (KEYWARD_PG_EXTERNAL=1).
#                         Otherwise makes sure a private cluster runs under $ROOT/.data/pg: finds
#                         PostgreSQL (installs Debian's package with apt-get when root, else says what
#                         to install and exits 1), runs initdb once, starts it on 127.0.0.1 at the
#                         port remembered in .data/pg.port (54329 or the first free one after it) and
#                         waits until it is ready; a cluster that already runs is reused.
#                         Exports KEYWARD_PG_URL_BASE, a URL without a database name.
#   keyward_pg_url DB     Prints a URL for database DB, creating it if missing. With
#                         KEYWARD_DATABASE_URL set it prints that URL unchanged (it is the user's).
#   keyward_pg_down       Stops the cluster if keyward_pg_up started it; otherwise does nothing.
#
# The caller sets ROOT (the repository root) before sourcing, runs with `set -euo pipefail`, and
# calls keyward_pg_down from its EXIT trap. Nothing here uses port 5432 or the system cluster.
#
# PostgreSQL refuses to run as root. When root, the cluster runs as the `postgres` system user
# (which Debian's package creates): .data/pg belongs to it, and every directory above .data that
# it cannot search gets o+x (search only, no listing; announced): a clone under /root, which is
# mode 700 on Debian, needs it.

: "${ROOT:?set ROOT to the repository root before sourcing scripts/lib/postgres.sh}"

KEYWARD_PG_DATA=$ROOT/.data/pg
KEYWARD_PG_PORT_FILE=$ROOT/.data/pg.port
KEYWARD_PG_LOG=$ROOT/.data/pg.log
KEYWARD_PG_FIRST_PORT=54329
KEYWARD_PG_SUPERUSER=postgres
KEYWARD_PG_BIN=""
KEYWARD_PG_PORT=""
KEYWARD_PG_STARTED=0
KEYWARD_PG_EXTERNAL=0

_kw_pg_say() { echo "keyward: $*" >&2; }
_kw_pg_die() {
	echo "keyward: $*" >&2
	exit 1
}

# _kw_pg_as CMD...: run CMD as the user that owns the cluster (postgres when we are root)
_kw_pg_as() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# _kw_pg_find_bin: set KEYWARD_PG_BIN to a directory holding initdb, pg_ctl and postgres. An
# existing cluster wants the major version that created it.
_kw_pg_find_bin() {
	local want="" d p
	[ -f "$KEYWARD_PG_DATA/PG_VERSION" ] && want=$(cat "$KEYWARD_PG_DATA/PG_VERSION")
	local candidates=()
	if p=$(command -v initdb 2>/dev/null); then
		candidates+=("$(dirname "$p")")
	fi
	if [ -n "$want" ] && [ -d "/usr/lib/postgresql/$want/bin" ]; then
		candidates+=("/usr/lib/postgresql/$want/bin")
	fi
	while IFS= read -r d; do
		[ -n "$d" ] && candidates+=("$d")
	done < <(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -rV)
	for d in ${candidates[@]+"${candidates[@]}"}; do
		if [ ! -x "$d/initdb" ] || [ ! -x "$d/pg_ctl" ] || [ ! -x "$d/postgres" ]; then continue; fi
		if [ -n "$want" ] && ! "$d/postgres" --version 2>/dev/null | grep -qE "[^0-9.]$want(\.|$|[^0-9])"; then
			continue
		fi
		KEYWARD_PG_BIN=$d
		return 0
	done
	if [ -n "$want" ] && [ ${#candidates[@]} -gt 0 ]; then
		_kw_pg_die "$KEYWARD_PG_DATA was made by PostgreSQL $want, which is not installed: install it (apt-get install postgresql-$want) or remove .data/pg to start afresh"
	fi
	return 1
}

# _kw_pg_install: Debian's postgresql with apt-get, without starting the system cluster
_kw_pg_install() {
	local policy=/usr/sbin/policy-rc.d made_policy=0 log=$ROOT/.data/apt-postgresql.log before after c rc=0
	_kw_pg_say "PostgreSQL is not installed: installing Debian's postgresql with apt-get (log .data/apt-postgresql.log)"
	before=$(_kw_pg_system_online)
	# policy-rc.d answering 101 keeps the package's postinst from starting the system cluster
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	{
		DEBIAN_FRONTEND=noninteractive apt-get update &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql
	} >"$log" 2>&1 </dev/null || rc=$?
	if [ "$made_policy" = 1 ]; then rm -f "$policy"; fi
	if [ "$rc" != 0 ]; then
		tail -5 "$log" >&2
		_kw_pg_die "apt-get install postgresql failed (exit $rc; see .data/apt-postgresql.log); install PostgreSQL or set KEYWARD_DATABASE_URL"
	fi
	# if the package started a system cluster anyway, stop it: this project uses its own
	after=$(_kw_pg_system_online)
	for c in $after; do
		case " $before " in *" $c "*) continue ;; esac
		_kw_pg_say "stopping the system cluster $c that the package started (keyward uses its own under .data)"
		pg_ctlcluster "${c%%/*}" "${c#*/}" stop >/dev/null 2>&1 || true
	done
}

# _kw_pg_system_online: "VERSION/NAME" of each online Debian cluster
_kw_pg_system_online() {
	command -v pg_lsclusters >/dev/null 2>&1 || return 0
	pg_lsclusters -h 2>/dev/null | awk '$4 == "online" { printf "%s/%s ", $1, $2 }'
}

_kw_pg_missing() {
	if command -v apt-get >/dev/null 2>&1; then
		_kw_pg_die "PostgreSQL is not installed: run \`sudo apt-get install postgresql\` (or set KEYWARD_DATABASE_URL to a server of yours)"
	fi
	_kw_pg_die "PostgreSQL is not installed: install its server (initdb, pg_ctl) from your package manager (or set KEYWARD_DATABASE_URL to a server of yours)"
}

# _kw_pg_port_free PORT: nothing answers on 127.0.0.1:PORT
_kw_pg_port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# _kw_pg_running: the pid in postmaster.pid is a live postgres; a stale file (after a crash or a
# reboot, its pid now gone or someone else's) is removed
_kw_pg_running() {
	local f=$KEYWARD_PG_DATA/postmaster.pid pid comm="" stat
	[ -f "$f" ] || return 1
	pid=$(head -1 "$f" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]]; then
		if [ -r "/proc/$pid/stat" ]; then
			# "PID (COMM) STATE ...": a zombie does not count
			stat=$(cat "/proc/$pid/stat" 2>/dev/null || true)
			case ${stat##*) } in Z*) ;; *) comm=$(cat "/proc/$pid/comm" 2>/dev/null || true) ;; esac
		elif kill -0 "$pid" 2>/dev/null; then
			comm=postgres # no /proc: trust a live pid
		fi
		case ${comm:-} in postgres* | postmaster*) return 0 ;; esac
	fi
	_kw_pg_say "removing a stale .data/pg/postmaster.pid (pid ${pid:-?} is not running PostgreSQL)"
	rm -f "$f"
	return 1
}

# _kw_pg_grant_access: as root, let the postgres user reach .data/pg
_kw_pg_grant_access() {
	local d=$ROOT/.data dirs=() opened=() i
	chown -R postgres: "$KEYWARD_PG_DATA"
	touch "$KEYWARD_PG_LOG" && chown postgres: "$KEYWARD_PG_LOG"
	while [ "$d" != / ]; do
		dirs=("$d" ${dirs[@]+"${dirs[@]}"})
		d=$(dirname "$d")
	done
	# from the top down, so that each test sees its parents already open
	for ((i = 0; i < ${#dirs[@]}; i++)); do
		d=${dirs[i]}
		if ! runuser -u postgres -- test -x "$d" 2>/dev/null; then
			chmod o+x "$d"
			case $d in "$ROOT"/*) ;; *) opened+=("$d") ;; esac
		fi
	done
	if [ ${#opened[@]} -gt 0 ]; then
		_kw_pg_say "PostgreSQL will not run as root, so it runs as the postgres user: gave others search (x, not read) permission on ${opened[*]} so it can reach .data/pg"
	fi
}

# _kw_pg_choose_port [FROM]: the port remembered in .data/pg.port when it is free, else the first
# free one from FROM (54329), which is then remembered
_kw_pg_choose_port() {
	local p="" old="" first=${1:-$KEYWARD_PG_FIRST_PORT}
	if [ -f "$KEYWARD_PG_PORT_FILE" ]; then old=$(cat "$KEYWARD_PG_PORT_FILE"); fi
	if [ -z "${1:-}" ] && [[ $old =~ ^[0-9]+$ ]] && _kw_pg_port_free "$old"; then
		KEYWARD_PG_PORT=$old
		return 0
	fi
	for ((p = first; p < first + 200; p++)); do
		if _kw_pg_port_free "$p"; then
			KEYWARD_PG_PORT=$p
			echo "$p" >"$KEYWARD_PG_PORT_FILE"
			if [[ $old =~ ^[0-9]+$ ]] && [ "$old" != "$p" ]; then
				_kw_pg_say "port $old is taken now: PostgreSQL moves to $p (remembered in .data/pg.port)"
			elif [ "$p" != "$first" ]; then
				_kw_pg_say "port $first is taken: PostgreSQL uses $p (remembered in .data/pg.port)"
			fi
			return 0
		fi
	done
	_kw_pg_die "no free TCP port for PostgreSQL between $first and $((first + 199))"
}

keyward_pg_up() {
	if [ -n "${KEYWARD_DATABASE_URL:-}" ]; then
		KEYWARD_PG_EXTERNAL=1
		export KEYWARD_PG_URL_BASE=$KEYWARD_DATABASE_URL
		return 0
	fi
	mkdir -p "$ROOT/.data"
	if ! _kw_pg_find_bin; then
		if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then _kw_pg_missing; fi
		_kw_pg_install
		_kw_pg_find_bin || _kw_pg_die "apt-get installed postgresql, but no initdb/pg_ctl was found under /usr/lib/postgresql"
	fi
	if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
		_kw_pg_die "PostgreSQL will not run as root and there is no postgres user to run it: create one (useradd --system postgres), run as another user, or set KEYWARD_DATABASE_URL"
	fi

	# Each script using the cluster leaves a file named for its pid; keyward_pg_down stops the
	# cluster only when no other live script uses it, so that test.sh finishing does not take the
	# database away from a dev.sh that reused its cluster (or the other way round).
	mkdir -p "$ROOT/.data/pg.users"
	: >"$ROOT/.data/pg.users/$$"
	if _kw_pg_running; then
		KEYWARD_PG_PORT=$(sed -n 4p "$KEYWARD_PG_DATA/postmaster.pid")
		_kw_pg_say "reusing the PostgreSQL already running on 127.0.0.1:$KEYWARD_PG_PORT (.data/pg)"
		# it may still be starting (another script started it a moment ago)
		local i
		for ((i = 0; i < 300; i++)); do
			_kw_pg_port_free "$KEYWARD_PG_PORT" || break
			sleep 0.2
		done
		if _kw_pg_port_free "$KEYWARD_PG_PORT"; then
			_kw_pg_die "the PostgreSQL in .data/pg (pid $(head -1 "$KEYWARD_PG_DATA/postmaster.pid")) does not answer on 127.0.0.1:$KEYWARD_PG_PORT: stop it (pg_ctl stop -D .data/pg) and retry"
		fi
	else
		if [ ! -f "$KEYWARD_PG_DATA/PG_VERSION" ]; then
			rm -rf "$KEYWARD_PG_DATA"
			mkdir -p "$KEYWARD_PG_DATA"
			chmod 700 "$KEYWARD_PG_DATA"
			if [ "$(id -u)" = 0 ]; then _kw_pg_grant_access; fi
			_kw_pg_say "creating a PostgreSQL cluster in .data/pg ($("$KEYWARD_PG_BIN/postgres" --version))"
			if ! _kw_pg_as "$KEYWARD_PG_BIN/initdb" -D "$KEYWARD_PG_DATA" -U "$KEYWARD_PG_SUPERUSER" \
				--auth=trust -E UTF8 --locale=C >"$ROOT/.data/initdb.log" 2>&1 </dev/null; then
				tail -5 "$ROOT/.data/initdb.log" >&2
				rm -rf "$KEYWARD_PG_DATA"
				_kw_pg_die "initdb failed (see .data/initdb.log)"
			fi
			# TCP on 127.0.0.1 only (the port is passed at start); no unix socket, whose default
			# directory may not be writable and whose path length is limited
			cat >>"$KEYWARD_PG_DATA/postgresql.conf" <<-'EOF'

				# scripts/lib/postgres.sh: a private development cluster
				listen_addresses = '127.0.0.1'
				unix_socket_directories = ''
				max_connections = 200
				shared_buffers = 128MB
				synchronous_commit = off
				log_min_messages = warning
			EOF
		fi
		if [ "$(id -u)" = 0 ]; then _kw_pg_grant_access; fi
		local tries=0 from=""
		while :; do
			_kw_pg_choose_port "$from"
			KEYWARD_PG_STARTED=1
			if _kw_pg_as "$KEYWARD_PG_BIN/pg_ctl" start -D "$KEYWARD_PG_DATA" -l "$KEYWARD_PG_LOG" -w -t 60 \
				-o "-p $KEYWARD_PG_PORT" >/dev/null 2>&1 </dev/null; then
				break
			fi
			KEYWARD_PG_STARTED=0
			tries=$((tries + 1))
			# another process took the port between the check and the start: try the next one
			if [ $tries -lt 5 ] && tail -20 "$KEYWARD_PG_LOG" 2>/dev/null | grep -qE 'could not bind|already in use'; then
				from=$((KEYWARD_PG_PORT + 1))
				continue
			fi
			tail -5 "$KEYWARD_PG_LOG" >&2 2>/dev/null || true
			_kw_pg_die "PostgreSQL did not start (see .data/pg.log)"
		done
		_kw_pg_say "PostgreSQL is running on 127.0.0.1:$KEYWARD_PG_PORT (data in .data/pg, log in .data/pg.log)"
	fi
	export KEYWARD_PG_URL_BASE="postgres://$KEYWARD_PG_SUPERUSER@127.0.0.1:$KEYWARD_PG_PORT"
}

keyward_pg_url() {
	local db=${1:?keyward_pg_url DBNAME} psql
	if [ "$KEYWARD_PG_EXTERNAL" = 1 ]; then
		echo "$KEYWARD_DATABASE_URL"
		return 0
	fi
	[ -n "$KEYWARD_PG_PORT" ] || _kw_pg_die "keyward_pg_url: call keyward_pg_up first"
	[[ $db =~ ^[a-z_][a-z0-9_]*$ ]] || _kw_pg_die "keyward_pg_url: database names here are lower-case letters, digits and _: $db"
	psql=$KEYWARD_PG_BIN/psql
	[ -x "$psql" ] || psql=psql
	if [ "$db" != postgres ] &&
		[ -z "$("$psql" -h 127.0.0.1 -p "$KEYWARD_PG_PORT" -U "$KEYWARD_PG_SUPERUSER" -d postgres -XtAq \
			-c "SELECT 1 FROM pg_database WHERE datname = '$db'" </dev/null)" ]; then
		# a concurrent run may create it first: that is fine
		"$psql" -h 127.0.0.1 -p "$KEYWARD_PG_PORT" -U "$KEYWARD_PG_SUPERUSER" -d postgres -XqAt \
			-c "CREATE DATABASE $db" </dev/null >/dev/null 2>&1 || true
		"$psql" -h 127.0.0.1 -p "$KEYWARD_PG_PORT" -U "$KEYWARD_PG_SUPERUSER" -d "$db" -XqAt -c 'SELECT 1' \
			</dev/null >/dev/null || _kw_pg_die "could not create database $db"
	fi
	echo "$KEYWARD_PG_URL_BASE/$db?sslmode=disable"
}

# _kw_pg_other_users: whether a live script other than this one still uses the cluster
_kw_pg_other_users() {
	local f pid found=1
	for f in "$ROOT/.data/pg.users"/*; do
		[ -e "$f" ] || continue
		pid=${f##*/}
		[ "$pid" = $$ ] && continue
		if [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
			found=0
		else
			rm -f "$f" # a script that died without cleaning up
		fi
	done
	return $found
}

keyward_pg_down() {
	[ "${KEYWARD_PG_EXTERNAL:-0}" = 1 ] && return 0
	rm -f "$ROOT/.data/pg.users/$$"
	# The last script out stops the cluster, whoever started it; one that is still in use stays.
	if _kw_pg_other_users; then
		[ "$KEYWARD_PG_STARTED" = 1 ] && _kw_pg_say "leaving PostgreSQL running: another script still uses it"
		KEYWARD_PG_STARTED=0
		return 0
	fi
	[ -n "${KEYWARD_PG_DATA:-}" ] && [ -f "$KEYWARD_PG_DATA/postmaster.pid" ] || return 0
	# shellcheck disable=SC2034 # read by the scripts that source this file
	KEYWARD_PG_STARTED=0
	_kw_pg_say "stopping PostgreSQL"
	_kw_pg_as "$KEYWARD_PG_BIN/pg_ctl" stop -D "$KEYWARD_PG_DATA" -m fast -w -t 60 >/dev/null 2>&1 </dev/null ||
		_kw_pg_say "could not stop PostgreSQL in .data/pg (see .data/pg.log)"
	return 0
}

# keyward_pg_restart: a fast restart of the private cluster (connections are cut), for the soak
# test's outage. Fails for a database given in KEYWARD_DATABASE_URL, which is not ours to restart.
keyward_pg_restart() {
	[ "${KEYWARD_PG_EXTERNAL:-0}" != 1 ] || { _kw_pg_say "keyward_pg_restart: the database in KEYWARD_DATABASE_URL is not ours to restart"; return 1; }
	_kw_pg_as "$KEYWARD_PG_BIN/pg_ctl" restart -D "$KEYWARD_PG_DATA" -l "$KEYWARD_PG_LOG" -m fast -w -t 60 \
		-o "-p $KEYWARD_PG_PORT" >/dev/null 2>&1 </dev/null
}
