#!/usr/bin/env bash
# Installs what breakout and its tests need on a Debian machine. Run as root.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
  runc            # the OCI runtime the harness drives
  busybox-static  # the shell in the minimal rootfs the harness builds
  binutils        # readelf, used by a test to cross-check the static probe
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

command -v cargo >/dev/null || {
  echo "ci/setup.sh: cargo is not installed; install a Rust toolchain (rustup) first" >&2
  exit 3
}
echo "ci/setup.sh: runc $(runc --version | head -1 | awk '{print $3}'), busybox-static, binutils ready"
