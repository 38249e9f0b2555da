# %preun (equivalent of %systemd_preun datasync-warden.service). $1: 0 on erase, 1+ on upgrade.
if [ "$1" -eq 0 ]; then
    # Erase: stop and disable. On upgrade the unit keeps running; %postun restarts it.
    systemctl --no-reload disable --now datasync-warden.service >/dev/null 2>&1 || :
fi
