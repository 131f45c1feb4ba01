#!/bin/sh
# memkv post-removal: the .deb postrm, the .rpm %postun and the .apk .post-deinstall.
# Reloads systemd after the unit file is gone; a Debian purge also deletes the server's state
# directory (a cache: nothing there is the only copy). The memkv user is kept, as Debian
# policy asks, so files it owned elsewhere never fall to a reused uid.
set -e

case "$1" in
    purge) rm -rf /var/lib/memkv ;;
esac

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
