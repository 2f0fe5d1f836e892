"""The Python rows of bench/harness.c: a daemon with a pidfile (umask 022),
then the payload, signal.pause(). Each row imports the implementation it
names, whatever else is installed:

    pydaemon.py python-daemon PIDFILE       Debian's python3-daemon
    pydaemon.py daemon PIDFILE DIR          daemonctx's daemon package (python-daemon's API), from DIR
    pydaemon.py pep3143daemon PIDFILE DIR   daemonctx's pep3143daemon package (the seed's API), from DIR

A second instance fails at once (acquire_timeout 0; PidFile refuses a held
pidfile): the 50-starters test counts errors instead of waiting.
"""
import signal
import sys

api, pidfile = sys.argv[1], sys.argv[2]
sys.path.insert(0, '/usr/lib/python3/dist-packages' if api == 'python-daemon' else sys.argv[3])

if api == 'pep3143daemon':
    from pep3143daemon import DaemonContext, PidFile

    context = DaemonContext(pidfile=PidFile(pidfile), umask=0o022)
else:
    import daemon
    import daemon.pidfile

    context = daemon.DaemonContext(pidfile=daemon.pidfile.TimeoutPIDLockFile(pidfile, 0), umask=0o022)

with context:
    while True:
        signal.pause()
