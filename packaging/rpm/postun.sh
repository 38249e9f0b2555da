# %postun (equivalent of %systemd_postun_with_restart datasync-warden.service).
# $1: 0 on erase, 1+ on upgrade. RPM has no purge: the activation state in
# /var/lib/private/datasync-warden (and each instance's datasync-warden-NAME) is kept after an
# erase (see README.packaging.md).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ]; then
    # Upgrade: restart a running daemon on the new binary (a stopped one stays stopped).
    systemctl try-restart datasync-warden.service >/dev/null 2>&1 || :
    # And the running instances of the template (datasync-warden@NAME.service).
    systemctl try-restart 'datasync-warden@*.service' >/dev/null 2>&1 || :
fi
