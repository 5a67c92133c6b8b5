"""The base of every error that is the user's to fix: the CLI prints its one-line message."""


class SegstreamError(Exception):
    """An error whose message says, in one line, the cause and what to do about it."""
