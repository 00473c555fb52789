"""Ids: FATE's id file made once from a file or an iterable, and every bad input named."""

from __future__ import annotations

from pathlib import Path

import pytest

from fate_registry.ids import Ids, InvalidIds


def test_an_iterable_becomes_the_header_then_one_id_per_line() -> None:
    ids = Ids(iter(["a", "b", "c"]), id_column="phone")
    assert b"".join(ids.chunks()) == b"phone\na\nb\nc\n"
    assert ids.length is None and ids.sent == len(b"phone\na\nb\nc\n")


def test_chunks_stay_near_the_size_asked() -> None:
    ids = Ids(str(i) for i in range(100_000))
    chunks = list(Ids(str(i) for i in range(100_000)).chunks(4096))
    assert max(len(c) for c in chunks) < 4096 * 1.5
    assert b"".join(chunks) == b"".join(ids.chunks())


def test_an_id_file_is_sent_as_it_is_with_its_length(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_bytes(b"id\r\n1\r\n2")
    ids = Ids(path)
    assert ids.length == 8 and b"".join(ids.chunks(2)) == b"id\r\n1\r\n2"


def test_a_csv_with_several_columns_gives_its_id_column(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text('\ufeffname,uid\n"Lee, A",7\n\nKim,8\n', encoding="utf-8")
    ids = Ids(path, id_column="uid")
    assert ids.length is None and b"".join(ids.chunks()) == b"uid\n7\n8\n"


def test_ids_iterate_as_strings_from_a_file_or_an_iterable(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("id\n1\n2\n")
    assert list(Ids(path)) == ["1", "2"]
    assert list(Ids(["3", "4"])) == ["3", "4"]


def test_ids_are_read_once() -> None:
    ids = Ids(["1"])
    list(ids.chunks())
    with pytest.raises(InvalidIds, match="already read"):
        list(ids)


def test_progress_counts_every_byte_handed_out() -> None:
    seen: list[int] = []
    ids = Ids(["1", "22"], progress=seen.append)
    data = b"".join(ids.chunks())
    assert seen[-1] == len(data) == ids.sent


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (["1", "2\n3"], "has a line break"),
        (["1", "2\r"], "has a line break"),
        (["1", ""], "an id is empty"),
        (["1", 2], "ids must be strings, got a int"),
    ],
)
def test_a_bad_id_is_named(values: list[object], problem: str) -> None:
    with pytest.raises(InvalidIds, match=problem):
        b"".join(Ids(values).chunks())  # type: ignore[arg-type]


def test_a_file_without_the_id_column_is_refused_naming_its_header(tmp_path: Path) -> None:
    path = tmp_path / "ids.csv"
    path.write_text("phone\n1\n")
    with pytest.raises(InvalidIds, match="no column 'id' in its header 'phone'"):
        Ids(path)


def test_a_missing_file_is_refused_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidIds, match=r"nope\.csv.*No such file"):
        Ids(tmp_path / "nope.csv")


@pytest.mark.parametrize("column", ["", "a,b", "a\nb"])
def test_a_bad_id_column_is_refused(column: str) -> None:
    with pytest.raises(InvalidIds, match="id_column"):
        Ids(["1"], id_column=column)
