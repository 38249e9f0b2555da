# %post (equivalent of %systemd_post datasync-warden.service). $1: 1 on install, 2+ on upgrade.
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -eq 1 ]; then
    # First install: apply the preset (the package's 80-datasync-warden.preset says enable; a
    # site preset may say otherwise). Like Fedora's macros, nothing is started here: the unit
    # starts at the next boot, or with `systemctl start datasync-warden` once configured.
    systemctl --no-reload preset datasync-warden.service >/dev/null 2>&1 || :
fi
