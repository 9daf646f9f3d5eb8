"""Process exit codes of the `loader` command, defined once and documented in the README."""

SUCCESS = 0
# The command could not do its job: database unreachable, bad credentials, unknown source, ...
COULD_NOT_RUN = 1
# Click's own code for a command-line usage error.
USAGE_ERROR = 2
# `loader load` finished and landed everything it could, but quarantined some input.
FINISHED_WITH_REJECTS = 3
# `loader check-soc` found at least one device below the threshold (whatever else it found).
ALERT_FIRING = 4
# `loader check-soc`: no device is low, but at least one that reported state of charge has gone silent.
SOC_NO_DATA = 5
# `loader build`: another build is running against the database; this one did nothing.
BUILD_ALREADY_RUNNING = 6
