"""One exception type for bad input, so every entry point can print one clear line."""


class LosslandError(Exception):
    """A problem the user can fix; the message names the problem and the fix."""
