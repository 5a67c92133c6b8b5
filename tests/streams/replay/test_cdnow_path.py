"""Where the CDNOW dataset is looked for: beside the checkout, or beside its origin's."""

from __future__ import annotations

from pathlib import Path

from streams.replay.cdnow import DATASET, default_path


def _checkout(path: Path, origin_url: str | None = None) -> Path:
    (path / ".git").mkdir(parents=True)
    remote = "" if origin_url is None else f'[remote "origin"]\n\turl = {origin_url}\n'
    (path / ".git" / "config").write_text(f"[core]\n\tbare = false\n{remote}")
    return path


def _dataset_beside(checkout: Path) -> Path:
    data = checkout.parent / DATASET
    data.parent.mkdir(parents=True, exist_ok=True)
    data.write_text("customer_id date cds dollars\n")
    return data


def test_the_dataset_beside_the_checkout_comes_first(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "work" / "main")
    assert default_path(main) == _dataset_beside(main)


def test_a_clone_elsewhere_finds_the_dataset_beside_its_origin(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "work" / "main")
    data = _dataset_beside(main)
    clone = _checkout(tmp_path / "tmp" / "x", origin_url=f"{main}/.")  # as `git clone .` writes
    assert default_path(clone) == data


def test_without_the_dataset_the_path_beside_the_checkout_is_named(tmp_path: Path) -> None:
    main = _checkout(tmp_path / "work" / "main")
    clone = _checkout(tmp_path / "tmp" / "x", origin_url=str(main))
    assert default_path(clone) == clone.parent / DATASET
    remote = _checkout(tmp_path / "y", origin_url="https://github.com/example/segstream.git")
    assert default_path(remote) == remote.parent / DATASET
    assert default_path(tmp_path / "no-git") == tmp_path / DATASET
