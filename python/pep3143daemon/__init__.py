"""pep3143daemon's API on libdaemonctx: ``from pep3143daemon import DaemonContext, PidFile``.

A drop-in for the pep3143daemon package (its documented API, working on current
Python), re-exporting the daemonctx package; see daemonctx for the details.
"""

from daemonctx import (AlreadyRunning, DaemonContext, DaemonError, DaemonOptionError, DaemonOptionTypeError,
                       PidFile, PidFileError, default_signal_map)

__all__ = ['DaemonContext', 'PidFile', 'DaemonError']
