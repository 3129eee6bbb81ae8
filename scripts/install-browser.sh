#!/usr/bin/env bash
# Headless Chromium and its driver for the web app's browser tests (tests/web/test_web_e2e.py,
# tests/web/test_walkthrough.py) and scripts/screenshot_review.py: Debian's chromium + chromium-driver.
# And axe-core (the accessibility checker the walk-through runs in the page), from the npm registry
# by exact version, its axe.min.js checked against the sha256 below, kept in the user cache.
# Idempotent: does nothing when all is there. Needs root (or sudo) for apt-get, npm for axe-core.
set -euo pipefail
AXE_VERSION=4.10.3
AXE_SHA256=880970c081707360e64f34cea25ff91892f5bc95675b0776925b9709dd8a68bb
AXE_DIR=${GOALMATCH_AXE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/goalmatch/axe-core-$AXE_VERSION}

install_axe() {
    if [ -f "$AXE_DIR/axe.min.js" ] && echo "$AXE_SHA256  $AXE_DIR/axe.min.js" | sha256sum -c --status; then
        return 0
    fi
    command -v npm >/dev/null || { echo "install-browser: npm is needed to fetch axe-core" >&2; return 1; }
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "axe-core@$AXE_VERSION" >/dev/null && tar xzf "axe-core-$AXE_VERSION.tgz" package/axe.min.js package/LICENSE)
    echo "$AXE_SHA256  $tmp/package/axe.min.js" | sha256sum -c --status \
        || { echo "install-browser: axe-core $AXE_VERSION does not match its sha256" >&2; rm -rf "$tmp"; return 1; }
    mkdir -p "$AXE_DIR"
    mv "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$AXE_DIR/"
    rm -rf "$tmp"
    echo "axe-core $AXE_VERSION in $AXE_DIR"
}

install_axe
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "install-browser: need root or sudo for apt-get" >&2; exit 1; }
    sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends chromium chromium-driver
/usr/bin/chromium --version
/usr/bin/chromedriver --version
