#!/usr/bin/env bash
# chromium.sh - installs what the page's browser tests drive (cli/tests/browser.rs): Debian's
# Chromium and its ChromeDriver, /usr/bin/chromium and /usr/bin/chromedriver, if missing.
# Nothing is downloaded by a test tool: both come from Debian's packages like every other peer.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "chromium.sh: run as root (apt-get install chromium chromium-driver)" >&2; exit 1; }
echo "chromium.sh: apt-get install chromium chromium-driver" >&2
apt-get update -q >/dev/null
DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null
/usr/bin/chromium --version >&2
