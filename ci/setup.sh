#!/usr/bin/env bash
# Installs what breakout and its tests need on a Debian machine. Run as root.
# Idempotent: packages already present are left as they are.
#
#   bash ci/setup.sh                 install packages
#   bash ci/setup.sh --fix-cgroups   also move controllers off a hybrid layout's cgroup2
#                                    mount, which crun requires (changes host setup)
#   bash ci/setup.sh --no-toolchain  do not ask for cargo: breakout is built already, or
#                                    is built by another user (under sudo, root's PATH
#                                    and HOME hold no Rust toolchain)
set -euo pipefail

fix_cgroups=false
need_toolchain=true
for arg in "$@"; do
  case "$arg" in
    --fix-cgroups) fix_cgroups=true ;;
    --no-toolchain) need_toolchain=false ;;
    *) echo "ci/setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

packages=(
  runc            # OCI runtimes the harness drives
  crun
  runsc           # gVisor: runs as `runsc` and, with --oci-seccomp, as `runsc-oci`
  podman          # the engine driver; resolves profiles itself
  docker.io       # dockerd: the tests start a private engine (ci/private-dockerd.sh)
  golang-github-containers-common  # Podman's default profile, /usr/share/containers/seccomp.json
  skopeo          # copies test images between forms (an OCI layout, archives)
  busybox-static  # the shell in the minimal rootfs the harness builds
  iproute2        # `ip`: a test makes a network namespace of its own with it
  binutils        # readelf, used by a test to cross-check the static probe
  libxml2-utils   # xmllint: a test validates the JUnit output against consumers' schemas
  libseccomp-dev  # libseccomp.a: breakout compiles profiles as runc and crun do
  pkg-config
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if $fix_cgroups; then
  # crun refuses a hybrid layout whose cgroup2 mount holds a controller (here: hugetlb).
  # Mounting each such controller as a v1 hierarchy takes it off cgroup2.
  unified=/sys/fs/cgroup/unified/cgroup.controllers
  if [ -f "$unified" ]; then
    for c in $(cat "$unified"); do
      mkdir -p "/sys/fs/cgroup/$c"
      mountpoint -q "/sys/fs/cgroup/$c" || mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c"
    done
  fi
fi

if $need_toolchain && ! command -v cargo >/dev/null; then
  echo "ci/setup.sh: cargo is not installed; install a Rust toolchain (rustup) first, or pass --no-toolchain where breakout is built already" >&2
  exit 3
fi
echo "ci/setup.sh: $(runc --version | head -1), $(crun --version | head -1), $(runsc --version 2>/dev/null | head -1); busybox-static, iproute2, binutils, xmllint ready"
