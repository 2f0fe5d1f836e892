"""python-daemon's API on libdaemonctx: ``import daemon`` as before.

``daemon.DaemonContext`` (also ``daemon.daemon.DaemonContext``) turns the
program into a well-behaved Unix daemon (PEP 3143); ``daemon.pidfile`` has
the lock-based ``PIDLockFile`` and ``TimeoutPIDLockFile``. A failure after the
fork is raised in the invoking process; see daemon.daemon for what else
differs from python-daemon.
"""

from .daemon import DaemonContext

__all__ = ['DaemonContext']
