# %preun (equivalent of %systemd_preun datasync-warden.service). $1: 0 on erase, 1+ on upgrade.
if [ "$1" -eq 0 ]; then
    # Erase: stop and disable. On upgrade the unit keeps running; %postun restarts it.
    systemctl --no-reload disable --now datasync-warden.service >/dev/null 2>&1 || :
    # Every instance of the template (datasync-warden@NAME.service, enabled by the operator):
    # stopped, and disabled so no dangling .wants link is left behind.
    systemctl stop 'datasync-warden@*.service' >/dev/null 2>&1 || :
    for link in /etc/systemd/system/*.wants/datasync-warden@*.service; do
        [ -L "$link" ] || continue
        systemctl --no-reload disable "${link##*/}" >/dev/null 2>&1 || :
    done
fi
