#!/bin/sh
# memkv pre-removal: the .deb prerm, the .rpm %preun and the .apk .pre-deinstall.
# On removal (not on upgrade) it stops and disables the service and takes away the NIXL plugin
# link that the post-install made (only if it still points at this package's plugin).
set -e

PLUGIN=/usr/lib/memkv/libplugin_MEMKV.so
LINK=/opt/nvidia/nvda_nixl/lib/plugins/libplugin_MEMKV.so

case "$1" in
    # deb: upgrade, failed-upgrade, deconfigure; rpm: 1 = upgrade (0 = erase).
    upgrade | failed-upgrade | deconfigure | 1) exit 0 ;;
esac

# Debian: init-system-helpers' wrappers; elsewhere (rpm distributions): systemctl.
if command -v deb-systemd-helper >/dev/null 2>&1; then
    if [ -d /run/systemd/system ]; then
        deb-systemd-invoke stop memkv.service >/dev/null 2>&1 || true
    fi
    deb-systemd-helper disable memkv.service >/dev/null 2>&1 || true
elif command -v systemctl >/dev/null 2>&1 && [ -f /usr/lib/systemd/system/memkv.service ]; then
    if [ -d /run/systemd/system ]; then
        systemctl stop memkv.service >/dev/null 2>&1 || true
    fi
    systemctl --no-reload disable memkv.service >/dev/null 2>&1 || true
fi

if [ -L "$LINK" ] && [ "$(readlink "$LINK")" = "$PLUGIN" ]; then
    rm -f "$LINK"
fi
exit 0
