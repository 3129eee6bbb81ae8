#!/usr/bin/env bash
# Headless Chromium and its driver for the web app's browser test (tests/web/test_web_e2e.py) and
# scripts/screenshot_review.py: Debian's chromium + chromium-driver, nothing downloaded otherwise.
# Idempotent: does nothing when both are there. Needs root (or sudo) for apt-get.
set -euo pipefail
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
