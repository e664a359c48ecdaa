#!/usr/bin/env bash
# test.sh: install what the tests need, then run every test.
#
# Runs as root on a fresh Debian machine with Go (CI calls it through .ci/run):
# the functional tests create network namespaces, start BIRD, capture with
# tcpdump and drive nmap/hping3/softflowd/pmacct inside those namespaces.
# Tests that need a missing tool or root skip with a message saying so.
#
#   ./test.sh                 install dependencies, run all tests
#   ./test.sh -run Netscan    extra arguments go to `go test`
#   SKIP_APT=1 ./test.sh      do not touch apt (packages already installed)
set -euo pipefail
cd "$(dirname "$0")"

# Debian packages the tests start for real (see ../shared/DEPENDENCIES.md).
packages=(
	iproute2 iputils-ping traceroute netcat-openbsd curl # namespaces, reachability, HTTP in scenarios
	tcpdump tshark                                  # captures inside test namespaces
	nmap hping3                                     # real scanners for detector tests
	softflowd pmacct nfdump                         # real flow exporters
	bird2 frr nftables                              # edge routers (BIRD, FRR as a stricter peer), the Linux enforcer
)

if [ "${SKIP_APT:-0}" != 1 ] && [ "$(id -u)" = 0 ]; then
	missing=()
	for p in "${packages[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		echo "test.sh: installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi

go version
go vet ./...
# The whole suite stays well under the 30 minutes CI allows; the timeout is a
# backstop against a hung external process, not a budget.
go test -count=1 -timeout 25m "$@" ./...
