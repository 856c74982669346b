#!/usr/bin/env bash
# Runs the browser test: installs Debian's chromium when it is missing, then
# loads the status page in headless Chromium during a simulated build and
# saves bin/screenshots/status-page.png (SCREENSHOT_DIR=docs to refresh the
# README's: `make docs`).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v "${CHROMIUM:-chromium}" >/dev/null 2>&1; then
  echo "installing Debian's chromium for the browser test"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
go test -count=1 -tags browser -run TestStatusPagesInChromium ./e2e
