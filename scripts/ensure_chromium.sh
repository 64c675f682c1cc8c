#!/usr/bin/env bash
# Make sure a Chromium browser is available for the explorer's browser tests.
#
# The tests drive Debian's `chromium` through Playwright for Python (no browser download:
# Playwright is pointed at this binary). Like ensure_graphviz.sh this never fails: without
# Chromium it explains how to install it and exits 0 (the browser tests then skip with a
# reason, or fail under CI=true, where the set-up is expected to have installed it).
set -eu

find_chromium() {
    for name in chromium chromium-browser; do
        if command -v "$name" >/dev/null 2>&1 && "$name" --version >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
    done
    return 1
}

if path="$(find_chromium)"; then
    echo "chromium: $("$path" --version 2>/dev/null)"
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "chromium: not found; installing Debian package 'chromium' with apt-get ..."
    apt-get update -qq || echo "chromium: warning: 'apt-get update' reported a problem; trying the install anyway" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; then
        hash -r
        if path="$(find_chromium)"; then
            echo "chromium: installed: $("$path" --version 2>/dev/null)"
            exit 0
        fi
    fi
    echo "chromium: warning: apt-get could not install a working 'chromium'." >&2
fi

cat >&2 <<'MSG'
chromium: no Chromium browser found (`chromium` on PATH).
  autograd_nn does not need it; only the explorer's browser tests do, and they are skipped.
  To install it:
    Debian/Ubuntu:  sudo apt-get install chromium
    Fedora/RHEL:    sudo dnf install chromium
    macOS:          brew install --cask chromium
  (Playwright for Python drives it; it is in the test extra and downloads no browser.)
MSG
exit 0
