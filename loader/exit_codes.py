"""Process exit codes of the `loader` command, defined and described once: `loader --help` and the docs
show MEANINGS."""

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

MEANINGS = {
    SUCCESS: "success",
    COULD_NOT_RUN: "could not run (database unreachable, bad credentials, unknown source, ...)",
    USAGE_ERROR: "usage error (an option or argument that does not fit)",
    FINISHED_WITH_REJECTS: "load finished with rejects: some input quarantined, the rest landed",
    ALERT_FIRING: "check-soc: a device's state of charge is low",
    SOC_NO_DATA: "check-soc: none low, but a device has gone silent",
    BUILD_ALREADY_RUNNING: "build: another build is running; this one did nothing",
}
