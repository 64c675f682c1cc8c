#!/usr/bin/env bash
# Make sure Graphviz's `dot` executable is available.
#
# autograd_nn builds DOT source without it; `dot` is needed only to render
# graphs to images. So this script never fails: if it cannot install Graphviz
# it explains how to and exits 0 (tests that render are skipped with a reason).
set -eu

have_dot() { command -v dot >/dev/null 2>&1 && dot -V >/dev/null 2>&1; }

if have_dot; then
    echo "graphviz: $(dot -V 2>&1)"
    exit 0
fi

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "graphviz: 'dot' not found; installing Debian package 'graphviz' with apt-get ..."
    # A stale mirror or a warning from `apt-get update` must not stop us:
    # the install below is what counts.
    apt-get update -qq || echo "graphviz: warning: 'apt-get update' reported a problem; trying the install anyway" >&2
    if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null; then
        hash -r
        if have_dot; then
            echo "graphviz: installed: $(dot -V 2>&1)"
            exit 0
        fi
    fi
    echo "graphviz: warning: apt-get could not install a working 'dot'." >&2
fi

cat >&2 <<'MSG'
graphviz: the Graphviz 'dot' program is not installed (or not on PATH).
  autograd_nn still works: it builds DOT source without it, but cannot render
  graphs to SVG/PNG, and the tests that render are skipped.
  To install Graphviz:
    Debian/Ubuntu:  sudo apt-get install graphviz
    Fedora/RHEL:    sudo dnf install graphviz
    macOS:          brew install graphviz
    conda:          conda install -c conda-forge graphviz
    Windows:        use the installer from the Download page of graphviz.org,
                    or `winget install graphviz` / `choco install graphviz`,
                    then add its bin folder to PATH.
MSG
exit 0
