#!/bin/sh
# memkv post-install: the .deb postinst, the .rpm %post and the .apk .post-install.
# Declared once in packaging/package.toml; nfpm puts it into all three formats.
#
# 1. Creates the `memkv` system user the service runs as (kept on removal, as Debian policy asks).
# 2. Links the NIXL plugin into NIXL's plugin directory when NIXL is installed (never over a file
#    or a link of someone else's).
# 3. Tells a running systemd about the unit. The service is NOT enabled or started.
set -e

PLUGIN=/usr/lib/memkv/libplugin_MEMKV.so
NIXL_PLUGINS=/opt/nvidia/nvda_nixl/lib/plugins

case "$1" in
    abort-upgrade | abort-remove | abort-deconfigure) exit 0 ;;
esac

if ! id -u memkv >/dev/null 2>&1; then
    nologin=/usr/sbin/nologin
    [ -x "$nologin" ] || nologin=/sbin/nologin
    if command -v systemd-sysusers >/dev/null 2>&1 && [ -f /usr/lib/sysusers.d/memkv.conf ]; then
        systemd-sysusers memkv.conf
    elif command -v useradd >/dev/null 2>&1; then
        useradd --system --user-group --home-dir /var/lib/memkv --no-create-home \
            --shell "$nologin" --comment "memkv server" memkv
    else
        # busybox (Alpine)
        addgroup -S memkv 2>/dev/null || true
        adduser -S -D -H -h /var/lib/memkv -s "$nologin" -G memkv -g "memkv server" memkv
    fi
fi

# Only our own link is ever (re)made: a real file there, or a link the admin pointed at another
# build, is left as it is (`ln -sf` would replace either).
LINK="$NIXL_PLUGINS/libplugin_MEMKV.so"
if [ -f "$PLUGIN" ] && [ -d "$NIXL_PLUGINS" ]; then
    if [ -L "$LINK" ] && [ "$(readlink "$LINK")" != "$PLUGIN" ]; then
        echo "memkv: $LINK points at $(readlink "$LINK"); left as it is" >&2
    elif [ -e "$LINK" ] && [ ! -L "$LINK" ]; then
        echo "memkv: $LINK is a file, not a link; left as it is" >&2
    else
        ln -sf "$PLUGIN" "$LINK"
    fi
fi

if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
    systemctl daemon-reload >/dev/null 2>&1 || true
fi
exit 0
