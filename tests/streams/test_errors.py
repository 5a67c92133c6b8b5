"""Start-up checks that turn a setting's bad value into one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.errors import SegstreamError, prepare_directory


def test_a_data_dir_whose_parents_are_missing_is_created(tmp_path: Path) -> None:
    """Faust creates only the last level: a missing parent crashed the worker with a traceback."""
    prepare_directory(tmp_path / "deployment" / "worker-1", "SEGSTREAM_DATA_DIR")
    assert (tmp_path / "deployment" / "worker-1").is_dir()


def test_a_data_dir_that_cannot_be_created_names_the_setting(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(SegstreamError, match=r"cannot create .*a-file/data .*SEGSTREAM_DATA_DIR"):
        prepare_directory(tmp_path / "a-file" / "data", "SEGSTREAM_DATA_DIR")
