#!/bin/sh
# Installs headless Chromium and chromedriver for tests/reporting/test_browser.py, when it can.
#
# Already on PATH: does nothing. Otherwise, as root (or with passwordless sudo) on a system
# with apt-get: installs the distribution's `chromium chromium-driver` quietly, running
# `apt-get update` only when the install fails without it. Prints one line saying what
# happened and always exits 0: where nothing could be installed, the browser tests skip.

have() { command -v "$1" >/dev/null 2>&1; }

if { have chromium || have chromium-browser || have google-chrome; } && have chromedriver; then
    echo "install_browser: chromium and chromedriver already installed"
    exit 0
fi
if ! have apt-get; then
    echo "install_browser: no apt-get here; install chromium and chromedriver yourself (browser tests will skip)"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then
    SUDO=""
elif have sudo && sudo -n true >/dev/null 2>&1; then
    SUDO="sudo -n"
else
    echo "install_browser: not root and no passwordless sudo; run 'apt-get install chromium chromium-driver' as root (browser tests will skip)"
    exit 0
fi

LOG="${TMPDIR:-/tmp}/segtrain-install-browser.log"
install() {
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver >>"$LOG" 2>&1
}
: >"$LOG" 2>/dev/null || LOG=/dev/null
if install || { $SUDO apt-get update -q >>"$LOG" 2>&1 && install; }; then  # update only when needed
    echo "install_browser: installed chromium and chromium-driver with apt-get"
else
    echo "install_browser: apt-get could not install chromium chromium-driver (see $LOG); browser tests will skip"
fi
exit 0
