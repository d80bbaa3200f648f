#!/usr/bin/env bash
# ci/private-dockerd.sh: a Docker engine of the tests' own, so the docker driver runs
# for real where no engine answers (Debian's docker.io, which ci/setup.sh installs).
#
#   bash ci/private-dockerd.sh start DIR   start dockerd with everything under DIR and
#                                          print the DOCKER_HOST to use (exit 0), or
#                                          say why not on stderr (exit 1)
#   bash ci/private-dockerd.sh stop DIR    stop that dockerd (by the pid it wrote) and
#                                          remove DIR
#
# Everything it keeps is under DIR: the socket, the data root (images, layers), the
# exec root (its containerd's state), the pidfile and the log. It touches no host
# networking: --iptables=false and --ip-masq=false write no firewall rule, and
# --bridge=none makes no docker0 interface (breakout's docker trials use
# --network none or a namespace of breakout's own). DIR must be root-owned, as
# dockerd runs as root.
set -uo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}

[ $# -eq 2 ] || usage
action=$1
dir=$2

start() {
  command -v dockerd >/dev/null || { echo "dockerd is not installed (apt-get install docker.io)" >&2; return 1; }
  mkdir -p "$dir" && chmod 700 "$dir" || return 1
  local sock="$dir/docker.sock"
  # A socket path must fit in sun_path (108 bytes).
  if [ ${#sock} -ge 100 ]; then
    echo "$sock is too long for a socket path" >&2
    return 1
  fi
  dockerd \
    --host "unix://$sock" \
    --data-root "$dir/data" \
    --exec-root "$dir/exec" \
    --pidfile "$dir/dockerd.pid" \
    --iptables=false --ip-masq=false --bridge=none \
    --storage-driver overlay2 \
    >"$dir/dockerd.log" 2>&1 &
  local pid=$!
  echo "$pid" >"$dir/launcher.pid"
  for _ in $(seq 1 150); do
    if DOCKER_HOST="unix://$sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
      echo "unix://$sock"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "dockerd exited; its log ($dir/dockerd.log) ends with:" >&2
      tail -5 "$dir/dockerd.log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "dockerd did not answer within 30 s; see $dir/dockerd.log" >&2
  stop
  return 1
}

stop() {
  local pid=""
  [ -s "$dir/dockerd.pid" ] && pid=$(cat "$dir/dockerd.pid")
  [ -z "$pid" ] && [ -s "$dir/launcher.pid" ] && pid=$(cat "$dir/launcher.pid")
  # Only the dockerd this script started: the pid must be a dockerd whose command
  # line names this DIR.
  if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-root $dir/data"; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  fi
  # What dockerd mounted under DIR and left (overlay layers, its exec root), deepest
  # first, then DIR itself.
  if [ -d "$dir" ]; then
    awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null; done
    rm -rf --one-file-system "$dir"
  fi
  return 0
}

case "$action" in
  start) start ;;
  stop) stop ;;
  *) usage ;;
esac
