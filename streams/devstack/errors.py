"""The one error the dev stack raises."""

from __future__ import annotations

from streams.errors import SegstreamError


class StackError(SegstreamError):
    """The dev stack cannot start or stop: the message is ONE line, the cause and what to do.

    A ``SegstreamError`` so the CLI prints it as is, without a traceback.
    """
