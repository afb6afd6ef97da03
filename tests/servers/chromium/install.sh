#!/bin/sh
# Debian's chromium and chromium-driver for the browser tests (tests/integration/test_site.py:
# headless --dump-dom of the static site; tests/integration/web: the web chat driven through
# Selenium), and axe-core from npm for their accessibility audit. Nothing is downloaded at test
# time: Selenium is told where chromedriver is. Idempotent. Needs root or sudo for apt-get.
set -eu
HERE=$(dirname "$0")
# The emoji font: screenshots and rendered pages show the bot's ✏️ 💡 ✅, not empty boxes.
EMOJI_FONT=/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -f "$EMOJI_FONT" ]; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update
    $SUDO apt-get install -y chromium chromium-driver fonts-noto-color-emoji
fi
if [ ! -f "$HERE/node_modules/axe-core/axe.min.js" ]; then
    (cd "$HERE" && npm install --no-audit --no-fund --loglevel=error)
fi
