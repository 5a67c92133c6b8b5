"""The message a refused combination of settings gives (the connection settings' tests)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from streams.settings import Settings


def refusal(**values: object) -> str:
    with pytest.raises(ValidationError) as error:
        Settings(**values)  # type: ignore[arg-type]
    return str(error.value)
