"""Rule files that are not UTF-8 text, or not files at all: a problem at file:line:col, no hang."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from rules.files import MAX_BYTES, read_rule_file
from rules.loader import Problem, RuleFileError, load_rule_dir, load_rules, rule_files

GOOD = "segments:\n  - {id: a, name: A, description: d, condition: 'age > 1'}\n"


def refusal(*paths: Path) -> list[Problem]:
    with pytest.raises(RuleFileError) as error:
        load_rules(paths)
    return error.value.problems


def test_latin1_bytes_are_a_problem_at_the_first_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "geo.yaml"
    path.write_bytes(GOOD.replace("name: A", "name: München").encode("latin-1"))
    [problem] = refusal(path)
    assert (problem.path, problem.line, problem.column) == (str(path), 2, 20)
    assert "byte 0xfc is not UTF-8" in problem.message
    assert "save the file as UTF-8" in problem.message
    assert "M\ufffdnchen" in problem.source_line  # shown, with the bad byte marked


@pytest.mark.parametrize(
    ("encoding", "named"),
    [
        ("utf-16", "UTF-16 (little-endian)"),
        ("utf-16-be", None),
        ("utf-32", "UTF-32 (little-endian)"),
    ],
)
def test_utf16_and_utf32_are_named(tmp_path: Path, encoding: str, named: str | None) -> None:
    path = tmp_path / "wide.yaml"
    data = GOOD.encode(encoding)
    path.write_bytes(data if named else b"\xfe\xff" + data)
    [problem] = refusal(path)
    assert (problem.line, problem.column) == (1, 1)
    assert (
        f"the file is {named or 'UTF-16 (big-endian)'}; save the file as UTF-8" in problem.message
    )


def test_utf16_without_a_byte_order_mark_is_called_out(tmp_path: Path) -> None:
    path = tmp_path / "wide.yaml"
    path.write_bytes(GOOD.encode("utf-16-le"))
    [problem] = refusal(path)
    assert (problem.line, problem.column) == (1, 2)
    assert "looks like UTF-16 or UTF-32" in problem.message


def test_a_utf8_byte_order_mark_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert [rule.id for rule in load_rules([path]).rules] == ["a"]


def test_a_folder_named_like_a_rule_file(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").mkdir()
    [problem] = refusal(tmp_path / "x.yaml")
    assert problem.message.startswith("not a regular file (a folder)")


def test_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    [problem] = refusal(tmp_path / "gone.yaml")
    assert (problem.line, problem.column) == (1, 1)
    assert problem.message.startswith("not a regular file (a broken link to ")


@pytest.mark.timeout(20)
def test_a_named_pipe_is_refused_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")  # opening it to read would wait for a writer forever
    [problem] = refusal(tmp_path / "pipe.yaml")
    assert problem.message.startswith("not a regular file (a named pipe (FIFO))")


def test_a_socket_and_a_device(tmp_path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "s.yaml"))
        (tmp_path / "null.yaml").symlink_to("/dev/null")
        messages = [problem.message for problem in refusal(*rule_files(tmp_path))]
    assert messages[0].startswith("not a regular file (a character device)")
    assert messages[1].startswith("not a regular file (a socket)")


def test_a_huge_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as sparse:
        sparse.truncate(50 * MAX_BYTES)  # 50 MiB the loader must not read
    problem = read_rule_file(path)
    assert isinstance(problem, Problem)
    assert problem.message == "the file holds 52,428,800 bytes; rule files may hold at most 1 MiB"


def test_a_huge_text_is_refused_too() -> None:
    from rules.loader import load_rule_texts

    with pytest.raises(RuleFileError) as error:
        load_rule_texts({"huge.yaml": GOOD + "#" * MAX_BYTES})
    assert [p.message for p in error.value.problems] == ["rule files may hold at most 1 MiB"]


def test_every_bad_file_is_reported_along_with_the_good_ones_problems(tmp_path: Path) -> None:
    (tmp_path / "a_dir.yaml").mkdir()
    (tmp_path / "b_link.yaml").symlink_to(tmp_path / "nowhere")
    os.mkfifo(tmp_path / "c_pipe.yaml")
    (tmp_path / "d_latin1.yaml").write_bytes("# Grüße\n".encode("latin-1"))
    (tmp_path / "e_bad.yaml").write_text(GOOD.replace("age", "agee"))
    with pytest.raises(RuleFileError) as error:
        load_rule_dir(tmp_path)
    found = [(Path(p.path).name, p.line, p.column) for p in error.value.problems]
    assert found == [
        ("a_dir.yaml", 1, 1),
        ("b_link.yaml", 1, 1),
        ("c_pipe.yaml", 1, 1),
        ("d_latin1.yaml", 1, 5),
        ("e_bad.yaml", 2, 50),
    ]


def test_a_rules_folder_that_is_not_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text(GOOD)
    for directory in (tmp_path / "file", tmp_path / "missing"):
        with pytest.raises(RuleFileError) as error:
            load_rule_dir(directory)
        assert error.value.problems[0].message == "not a folder of rule files"


def test_a_lone_surrogate_in_a_rules_message_is_refused_and_printable() -> None:
    from rules.loader import load_rule_texts, rules_version

    texts = {"bad\udcfc.yaml": GOOD.replace("name: A", "name: \ud800")}
    with pytest.raises(RuleFileError) as error:
        load_rule_texts(texts)
    str(error.value).encode("utf-8")  # printable, e.g. by `rules check` or a log line
    assert rules_version(texts).startswith("rules-")


def test_read_rule_texts_gives_every_text_or_every_problem(tmp_path: Path) -> None:
    from rules.files import read_rule_texts

    (tmp_path / "a.yaml").write_text(GOOD)
    assert read_rule_texts([tmp_path / "a.yaml"]) == {str(tmp_path / "a.yaml"): GOOD}
    (tmp_path / "b.yaml").mkdir()
    os.mkfifo(tmp_path / "c.yaml")
    with pytest.raises(RuleFileError) as error:
        read_rule_texts(rule_files(tmp_path))
    assert [Path(p.path).name for p in error.value.problems] == ["b.yaml", "c.yaml"]
