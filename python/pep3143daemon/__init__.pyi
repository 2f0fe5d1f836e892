# Type information of the pep3143daemon package: the daemonctx package's objects.
from daemonctx import (AlreadyRunning as AlreadyRunning, DaemonContext as DaemonContext, DaemonError as DaemonError,
                       DaemonOptionError as DaemonOptionError, DaemonOptionTypeError as DaemonOptionTypeError,
                       PidFile as PidFile, PidFileError as PidFileError, default_signal_map as default_signal_map)
