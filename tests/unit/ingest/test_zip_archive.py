"""Listing a shelter archive uploaded as a ZIP (``ingest.zip_archive``), in memory.
Pure: ZIPs built in the test, no models, no database."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import pytest

from matcher.errors import FileTooLargeError, InputError, UnsupportedMediaError
from matcher.ingest.archive import parse_manifest
from matcher.ingest.zip_archive import ZipLimits, scan_zip
from tests.conftest import make_settings

LIMITS = ZipLimits(max_bytes=50 << 20, max_members=100, max_unpacked_bytes=200 << 20, max_ratio=100, max_member_bytes=5 << 20)
PHOTO = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8  # listing never decodes: any bytes named .jpg will do


def make_zip(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            if name.endswith("/"):
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


def codes(problems) -> dict[str, str]:
    return {p.file: p.problem for p in problems}


def test_limits_come_from_settings(tmp_path):
    limits = ZipLimits.from_settings(make_settings(tmp_path, max_archive_mb=10, archive_max_files=7, max_upload_mb=2, video_max_mb=3))
    assert (limits.max_bytes, limits.max_members, limits.max_member_bytes) == (10 << 20, 7, 3 << 20)


def test_folder_per_child_inside_one_top_folder_is_stripped_and_read_lazily():
    data = make_zip(
        {
            "Shelter export/C-001/a.jpg": PHOTO + b"1",
            "Shelter export/C-001/2024/b.JPG": PHOTO + b"2",
            "Shelter export/C-002/c.png": PHOTO + b"3",
            "Shelter export/C-003/clip.mp4": PHOTO + b"4",
        }
    )
    items, problems = scan_zip(data, LIMITS)
    assert problems == []
    assert [(i.record_id, str(i.path)) for i in items] == [
        ("C-001", "Shelter export/C-001/2024/b.JPG"),
        ("C-001", "Shelter export/C-001/a.jpg"),
        ("C-002", "Shelter export/C-002/c.png"),
        ("C-003", "Shelter export/C-003/clip.mp4"),
    ]
    assert items[1].read() == PHOTO + b"1" and items[3].read() == PHOTO + b"4"


def test_a_single_child_folder_is_the_child_not_a_wrapper():
    items, problems = scan_zip(make_zip({"C-009/a.jpg": PHOTO, "C-009/b.jpg": PHOTO + b"x"}), LIMITS)
    assert {i.record_id for i in items} == {"C-009"} and len(items) == 2 and problems == []


def test_unsafe_junk_and_non_media_members_are_skipped_with_problem_rows():
    data = make_zip(
        {
            "top/C-001/a.jpg": PHOTO,
            "top/C-001/notes.txt": b"hello",
            "top/C-002/": b"",  # a child's folder with nothing in it
            "top/C-003/readme.pdf": b"%PDF",  # only a non-media file
            "top/stray.jpg": PHOTO + b"s",  # a photo outside any child's folder
            "top/.DS_Store": b"junk",
            "__MACOSX/top/C-001/._a.jpg": b"junk",
            "top/C-001/Thumbs.db": b"junk",
            "../evil.jpg": PHOTO,
            "/etc/evil.jpg": PHOTO,
            "top/C-004/..\\..\\evil.jpg": PHOTO,
            "top/C 005 (Amal)/a.jpg": PHOTO,  # parentheses: not a record number the API accepts
        }
    )
    items, problems = scan_zip(data, LIMITS)
    assert [(i.record_id, str(i.path)) for i in items] == [("C-001", "top/C-001/a.jpg")]
    assert codes(problems) == {
        "../evil.jpg": "unsafe_name",
        "/etc/evil.jpg": "unsafe_name",
        "top/C-004/..\\..\\evil.jpg": "unsafe_name",
        "top/C-001/notes.txt": "not_media",
        "top/C-003/readme.pdf": "not_media",
        "top/stray.jpg": "not_in_folder",
        "C-002/": "empty_folder",
        "C-003/": "empty_folder",
        "top/C 005 (Amal)/a.jpg": "bad_record_number",
    }
    assert all(p.message for p in problems)


def test_a_member_too_large_to_analyse_is_a_problem_not_an_item():
    limits = ZipLimits(50 << 20, 100, 200 << 20, 100, max_member_bytes=len(PHOTO) + 10)
    items, problems = scan_zip(make_zip({"C-1/a.jpg": PHOTO, "C-1/big.jpg": PHOTO + b"y" * 100}, zipfile.ZIP_STORED), limits)
    assert [str(i.path) for i in items] == ["C-1/a.jpg"] and codes(problems) == {"C-1/big.jpg": "file_too_large"}


def test_manifest_in_the_top_folder_gives_records_with_their_fields():
    manifest = (
        "record_id,path,name,sex,birth_year,found_on,notes\n"
        "C-10,photos/a.jpg,Amal,F,2016,2024-03-01,\n"
        "C-10,photos/b.jpg,,,,,\n"
        "C-11,./photos/c.jpg,Yusuf,male,2018,,found near the station\n"
        "C-12,photos/missing.jpg,,,,,\n"
        "C-13,../../outside.jpg,,,,,\n"
    )
    data = make_zip(
        {
            "export/manifest.csv": manifest.encode("utf-8-sig"),
            "export/photos/a.jpg": PHOTO + b"a",
            "export/photos/b.jpg": PHOTO + b"b",
            "export/photos/c.jpg": PHOTO + b"c",
            "export/photos/unlisted.jpg": PHOTO + b"u",
        }
    )
    items, problems = scan_zip(data, LIMITS)
    assert [(i.record_id, str(i.path)) for i in items] == [("C-10", "export/photos/a.jpg"), ("C-10", "export/photos/b.jpg"), ("C-11", "export/photos/c.jpg")]
    assert items[0].fields == {"name": "Amal", "sex": "female", "birth_year": "2016", "found_on": "2024-03-01"}
    assert items[2].fields == {"name": "Yusuf", "sex": "male", "birth_year": "2018", "notes": "found near the station"}
    assert items[2].read() == PHOTO + b"c"
    assert codes(problems) == {"photos/missing.jpg": "missing_file", "../../outside.jpg": "unsafe_name", "export/photos/unlisted.jpg": "not_in_manifest"}


def test_manifest_mistakes_are_refused_with_their_line_numbers():
    with pytest.raises(InputError, match=r"line 3: birth_year 'soon'.*line 4: record_id and path are required"):
        parse_manifest("record_id,path,birth_year\nC-1,a.jpg,2015\nC-2,b.jpg,soon\n,c.jpg,\n", "manifest.csv")
    with pytest.raises(InputError, match="lacks column"):
        scan_zip(make_zip({"manifest.csv": b"id,file\nC-1,a.jpg\n", "a.jpg": PHOTO}), LIMITS)
    with pytest.raises(InputError, match="found_on"):
        scan_zip(make_zip({"manifest.csv": b"record_id,path,found_on\nC-1,a.jpg,01/02/2024\n", "a.jpg": PHOTO}), LIMITS)


def test_a_file_that_is_not_a_zip_is_refused():
    for data in (b"\xff\xd8\xff\xe0 a photo, not an archive" * 10, b"", b"PK\x03\x04" + b"\x00" * 100):
        with pytest.raises(UnsupportedMediaError, match="not a ZIP"):
            scan_zip(data, LIMITS)


def test_a_damaged_zip_is_refused():
    data = bytearray(make_zip({"C-1/a.jpg": PHOTO}))
    cd = data.rfind(b"PK\x01\x02")
    data[cd : cd + 4] = b"XXXX"  # central directory entry destroyed
    with pytest.raises(InputError, match="damaged"):
        scan_zip(bytes(data), LIMITS)


def _encrypted_flag(data: bytes) -> bytes:
    """The same ZIP with the 'encrypted' flag set on every entry (local and central headers)."""
    out = bytearray(data)
    for signature, flag_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        while at >= 0:
            (flags,) = struct.unpack_from("<H", out, at + flag_at)
            struct.pack_into("<H", out, at + flag_at, flags | 0x1)
            at = out.find(signature, at + 4)
    return bytes(out)


def test_an_encrypted_zip_is_refused():
    with pytest.raises(InputError, match="password"):
        scan_zip(_encrypted_flag(make_zip({"C-1/a.jpg": PHOTO})), LIMITS)


def test_too_many_members_or_too_much_data_is_refused():
    many = make_zip({f"C-{i}/a.jpg": PHOTO for i in range(LIMITS.max_members + 1)}, zipfile.ZIP_STORED)
    with pytest.raises(FileTooLargeError, match="more than 100 files"):
        scan_zip(many, LIMITS)
    small = ZipLimits(50 << 20, 100, max_unpacked_bytes=3 * len(PHOTO), max_ratio=100, max_member_bytes=5 << 20)
    with pytest.raises(FileTooLargeError, match="unpacked"):
        scan_zip(make_zip({f"C-{i}/a.jpg": PHOTO for i in range(4)}), small)
    with pytest.raises(FileTooLargeError, match="limit"):
        scan_zip(b"x" * 100, ZipLimits(99, 100, 1 << 20, 100, 1 << 20))


def zip_bomb(unpacked: int = 64 << 20) -> bytes:
    """One member of zeros that inflates ~1000 times (deflated with zlib, chunk by chunk: fast)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    packed = b"".join(packer.compress(chunk) for _ in range(unpacked >> 20)) + packer.flush()
    crc = 0
    for _ in range(unpacked >> 20):
        crc = zlib.crc32(chunk, crc)
    name = b"C-1/bomb.jpg"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(packed), unpacked, len(name), 0) + name
    central = struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(packed), unpacked, len(name), 0, 0, 0, 0, 0, 0) + name
    end = struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central), len(local) + len(packed), 0)
    return local + packed + central + end


def test_a_zip_bomb_is_refused_without_inflating_it():
    bomb = zip_bomb()
    assert len(bomb) < 200_000
    with pytest.raises(InputError, match="times its packed size"):
        scan_zip(bomb, LIMITS)


def test_a_member_whose_bytes_do_not_match_its_header_reads_as_damaged():
    data = bytearray(make_zip({"C-1/a.jpg": PHOTO}, zipfile.ZIP_STORED))
    at = data.find(PHOTO)
    data[at + 100] ^= 0xFF  # one flipped byte: the CRC check fails on reading
    items, _ = scan_zip(bytes(data), LIMITS)
    with pytest.raises(InputError, match="could not be read from the ZIP"):
        items[0].read()


def test_manifest_photo_ages_are_checked_with_the_line_named():
    from matcher.errors import InputError
    from matcher.ingest.archive import parse_manifest

    rows = parse_manifest("record_id,path,age,year_taken\nC1,a.jpg,4.5,\nC1,b.jpg,,2019\nC2,c.jpg,,\n", "m.csv")
    assert [(r.given.age, r.given.year) if r.given else None for r in rows] == [(4.5, None), (None, 2019), None]
    with pytest.raises(InputError, match=r"line 3: age: the child's age in this photo must be a number"):
        parse_manifest("record_id,path,age\nC1,a.jpg,4\nC1,b.jpg,four\n", "m.csv")
    with pytest.raises(InputError, match=r"line 2: year_taken: the year the photo was taken must be a 4-digit year"):
        parse_manifest("record_id,path,year_taken\nC1,a.jpg,19\n", "m.csv")
