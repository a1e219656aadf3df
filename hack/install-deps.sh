#!/usr/bin/env bash
# Installs the system packages understudy's tests and demo need on a fresh
# Debian machine: PostgreSQL (server and client tools), pgBackRest (refreshes
# from physical backups restore through it) and kubectl's stand-in
# is not needed (the suites use client-go). Go comes with the machine.
set -euo pipefail

need=()
command -v go >/dev/null || { echo "Go 1.26 is required (https://go.dev/dl/)" >&2; exit 1; }
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
if [[ -z "$pg_bin" || ! -x "$pg_bin/initdb" ]]; then need+=(postgresql); fi
command -v pg_restore >/dev/null || need+=(postgresql-client)
command -v pgbackrest >/dev/null || need+=(pgbackrest)
command -v make >/dev/null || need+=(make)
command -v git >/dev/null || need+=(git)

if ((${#need[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "missing packages: ${need[*]}; install them (apt-get install ${need[*]})" >&2
		exit 1
	fi
	echo ">> apt-get install ${need[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
# The Debian package starts a cluster of its own on port 5432; the tests start
# throwaway servers on free ports and never use it.
echo ">> system dependencies present" >&2
