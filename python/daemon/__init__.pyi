# Type information of the daemon package (python-daemon's API on libdaemonctx).
from .daemon import DaemonContext as DaemonContext

__all__ = ['DaemonContext']
