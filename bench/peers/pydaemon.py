"""python-daemon (Debian python3-daemon): DaemonContext with a
TimeoutPIDLockFile, umask 022, then the payload: signal.pause()."""
import signal
import sys

import daemon
import daemon.pidfile

with daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile(sys.argv[1]), umask=0o022):
    while True:
        signal.pause()
