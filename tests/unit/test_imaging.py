"""matcher.imaging: safe decoding of untrusted uploads and metadata-free re-encoding.

Every input is built here from ``skimage.data.astronaut()`` or synthetic arrays.
"""

from __future__ import annotations

import io
import resource
import struct
import time
import zlib
from datetime import datetime

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, features
from skimage import data as skdata

from matcher.errors import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    UnsupportedMediaError,
)
from matcher.imaging import (
    DecodedImage,
    ImageLimits,
    decode_image,
    encode_jpeg,
    resize_to_fit,
    sniff_format,
    strip_metadata,
)

RED_BGR = (0, 0, 255)
WHITE_BGR = (255, 255, 255)


# --------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    """A non-square RGB crop, so a missed rotation shows up in the shape."""
    return np.ascontiguousarray(skdata.astronaut()[:320, :192])


def save(im: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kwargs)
    return buf.getvalue()


def blocks_rgb() -> np.ndarray:
    """64x96 RGB: red | green | blue vertical stripes."""
    arr = np.zeros((64, 96, 3), np.uint8)
    arr[:, :32] = (255, 0, 0)
    arr[:, 32:64] = (0, 255, 0)
    arr[:, 64:] = (0, 0, 255)
    return arr


def assert_stripes(decoded: DecodedImage, tol: int = 0) -> None:
    assert decoded.bgr.shape == (64, 96, 3) and decoded.bgr.dtype == np.uint8
    for x, expected in ((16, (0, 0, 255)), (48, (0, 255, 0)), (80, (255, 0, 0))):
        got = decoded.bgr[32, x].astype(int)
        assert np.abs(got - expected).max() <= tol, (x, got, expected)


def exif_with(orientation: int | None = None, taken: str | None = None, gps: bool = False) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if taken is not None:
        exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = taken
    if gps:
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        gps_ifd[ExifTags.GPS.GPSLatitudeRef] = "N"
        gps_ifd[ExifTags.GPS.GPSLatitude] = (52.0, 31.0, 12.0)
        gps_ifd[ExifTags.GPS.GPSLongitudeRef] = "E"
        gps_ifd[ExifTags.GPS.GPSLongitude] = (13.0, 24.0, 36.0)
    return exif


def has_gps(data: bytes) -> bool:
    with Image.open(io.BytesIO(data)) as im:
        return bool(im.getexif().get_ifd(ExifTags.IFD.GPSInfo))


def png_with_ihdr_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR is patched to claim width x height (CRC fixed up)."""
    png = bytearray(save(Image.new("RGB", (1, 1)), "PNG"))
    assert png[12:16] == b"IHDR"
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


# --------------------------------------------------------------------------- orientation, EXIF


def test_exif_orientation_6_is_applied_and_reported(astronaut: np.ndarray) -> None:
    upright = decode_image(save(Image.fromarray(astronaut), "JPEG", quality=95))
    # Orientation 6 = "rotate 90° clockwise to display", so the sensor stored it rotated anticlockwise.
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut)))
    rotated = decode_image(save(stored, "JPEG", quality=95, exif=exif_with(orientation=6)))

    assert rotated.orientation == 6 and upright.orientation == 1
    assert rotated.bgr.shape == upright.bgr.shape == (320, 192, 3)
    assert (rotated.width, rotated.height) == (192, 320)
    diff = np.abs(rotated.bgr.astype(int) - upright.bgr.astype(int))
    assert diff.mean() < 3.0


def test_datetime_original_is_read_back_naive() -> None:
    data = save(Image.fromarray(blocks_rgb()), "JPEG", exif=exif_with(taken="2019:07:14 09:30:05"))
    assert decode_image(data).taken_at == datetime(2019, 7, 14, 9, 30, 5)


def test_missing_or_placeholder_datetime_is_none() -> None:
    assert decode_image(save(Image.fromarray(blocks_rgb()), "JPEG")).taken_at is None
    placeholder = exif_with(taken="0000:00:00 00:00:00")
    assert decode_image(save(Image.fromarray(blocks_rgb()), "JPEG", exif=placeholder)).taken_at is None


def test_encode_jpeg_writes_no_metadata(astronaut: np.ndarray) -> None:
    out = encode_jpeg(np.ascontiguousarray(astronaut[:, :, ::-1]), quality=85)
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "JPEG"
        assert not im.getexif()
        assert "icc_profile" not in im.info and "comment" not in im.info
    assert decode_image(out).bgr.shape == (320, 192, 3)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_strip_metadata_removes_exif_gps_icc_and_comments(astronaut: np.ndarray, fmt: str) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    extra = {"comment": b"taken at the shelter"} if fmt == "JPEG" else {}
    source = save(
        Image.fromarray(astronaut),
        fmt,
        exif=exif_with(orientation=1, taken="2020:01:02 03:04:05", gps=True),
        icc_profile=srgb,
        **extra,
    )
    assert has_gps(source)  # the fixture really carries GPS

    out = strip_metadata(source, ImageLimits())

    with Image.open(io.BytesIO(out)) as im:
        assert im.format == fmt  # PNG stays PNG (lossless), others become JPEG
        assert not im.getexif()
        assert "icc_profile" not in im.info and "comment" not in im.info and "exif" not in im.info
    assert not has_gps(out)
    assert decode_image(out).taken_at is None


def test_strip_metadata_keeps_the_photo_upright(astronaut: np.ndarray) -> None:
    stored = Image.fromarray(np.ascontiguousarray(np.rot90(astronaut)))
    out = strip_metadata(save(stored, "JPEG", exif=exif_with(orientation=6)), ImageLimits())
    decoded = decode_image(out)
    assert decoded.orientation == 1 and decoded.bgr.shape == (320, 192, 3)


# --------------------------------------------------------------------------- refusals


def test_zero_bytes_is_empty_file() -> None:
    with pytest.raises(EmptyFileError, match="empty"):
        decode_image(b"")


def test_truncated_jpeg_is_corrupt(astronaut: np.ndarray) -> None:
    data = save(Image.fromarray(astronaut), "JPEG")
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2])


def test_truncated_png_is_corrupt(astronaut: np.ndarray) -> None:
    data = save(Image.fromarray(astronaut), "PNG")
    with pytest.raises(CorruptImageError):
        decode_image(data[: len(data) // 2])


def test_garbage_after_jpeg_magic_is_corrupt() -> None:
    with pytest.raises(CorruptImageError):
        decode_image(b"\xff\xd8\xff\xe0" + b"\x00garbage" * 50)


def test_text_is_unsupported_and_says_so() -> None:
    with pytest.raises(UnsupportedMediaError, match="plain text") as info:
        decode_image(b"Name: Amina\nLast seen: market square\n")
    assert "JPEG, PNG, WebP or HEIC" in info.value.message


def test_pdf_is_unsupported_and_says_so() -> None:
    with pytest.raises(UnsupportedMediaError, match="PDF"):
        decode_image(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")


def test_mp4_video_is_unsupported_and_says_so() -> None:
    mp4 = struct.pack(">I", 24) + b"ftypisom" + b"\x00\x00\x02\x00" + b"isomiso2" + b"\x00" * 64
    assert sniff_format(mp4) is None
    with pytest.raises(UnsupportedMediaError, match="MP4 or MOV video"):
        decode_image(mp4)


def test_zip_is_unsupported() -> None:
    with pytest.raises(UnsupportedMediaError, match="ZIP"):
        decode_image(b"PK\x03\x04" + b"\x00" * 100)


@pytest.mark.parametrize(
    ("width", "height"),
    [(30000, 30000), (8000, 8000)],  # far past Pillow's own bomb limit; just past ours (60 MP) only
)
def test_huge_png_header_is_refused_before_decoding(width: int, height: int) -> None:
    data = png_with_ihdr_size(width, height)
    expected = f"{width}×{height}" if width * height < 89_000_000 else f"{width * height // 10**6} megapixels"
    peak_before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="limit is 60 megapixels") as info:
        decode_image(data)
    assert expected in info.value.message
    assert time.perf_counter() - start < 0.5
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before_kib) / 1024
    assert grown_mib < 50  # decoding would need >= 190 MB (8000x8000x3)


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_pillow_bomb_warning_raised_as_error_is_mapped_to_image_too_large() -> None:
    # 10000x10000 is past Pillow's warning threshold (~89 MP) but under its error threshold.
    with pytest.raises(ImageTooLargeError, match="100 megapixels"):
        decode_image(png_with_ihdr_size(10000, 10000), ImageLimits(max_pixels=150_000_000))


def test_pixel_limit_is_per_call_and_leaves_pillow_global_alone(astronaut: np.ndarray) -> None:
    before = Image.MAX_IMAGE_PIXELS
    data = save(Image.fromarray(astronaut), "PNG")
    with pytest.raises(ImageTooLargeError, match="192×320"):
        decode_image(data, ImageLimits(max_pixels=10_000))
    assert decode_image(data).width == 192
    assert before == Image.MAX_IMAGE_PIXELS


def test_bytes_over_limit_is_file_too_large_before_type_check() -> None:
    with pytest.raises(FileTooLargeError, match="limit"):
        decode_image(b"plain text, but too much of it " * 100, ImageLimits(max_bytes=1000))


# --------------------------------------------------------------------------- modes and formats


def test_grayscale_decodes_to_three_equal_channels() -> None:
    gray = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (16, 1))
    decoded = decode_image(save(Image.fromarray(gray, mode="L"), "PNG"))
    assert decoded.bgr.shape == (16, 64, 3) and decoded.bgr.dtype == np.uint8
    for channel in range(3):
        assert np.array_equal(decoded.bgr[:, :, channel], gray)


def test_rgba_is_composited_onto_white() -> None:
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red
    rgba[:, 4:] = (0, 0, 0, 0)  # fully transparent black
    decoded = decode_image(save(Image.fromarray(rgba, mode="RGBA"), "PNG"))
    assert decoded.bgr.shape == (8, 8, 3)
    assert tuple(decoded.bgr[0, 0]) == RED_BGR
    assert tuple(decoded.bgr[0, 7]) == WHITE_BGR


def test_sixteen_bit_png_is_scaled_to_eight_bit() -> None:
    values = np.array([[0, 128 * 257, 65535]], np.uint16)
    decoded = decode_image(save(Image.fromarray(values), "PNG"))
    assert decoded.bgr.dtype == np.uint8
    assert decoded.bgr[0, :, 0].tolist() == [0, 128, 255]


def test_palette_png_keeps_colours_and_transparent_index_becomes_white() -> None:
    assert_stripes(decode_image(save(Image.fromarray(blocks_rgb()).convert("P"), "PNG")))

    palette = Image.new("P", (4, 1))
    palette.putpalette([255, 0, 0, 0, 0, 0])
    palette.putdata([0, 0, 1, 1])
    decoded = decode_image(save(palette, "PNG", transparency=1))
    assert tuple(decoded.bgr[0, 0]) == RED_BGR and tuple(decoded.bgr[0, 3]) == WHITE_BGR


def test_cmyk_jpeg_converts_to_correct_colour() -> None:
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # no cyan, full magenta+yellow = red
    decoded = decode_image(save(cmyk, "JPEG", quality=95))
    assert decoded.format == "jpeg"
    assert np.abs(decoded.bgr[16, 16].astype(int) - RED_BGR).max() <= 3


def test_webp_decodes() -> None:
    decoded = decode_image(save(Image.fromarray(blocks_rgb()), "WEBP", lossless=True))
    assert decoded.format == "webp"
    assert_stripes(decoded)


@pytest.mark.parametrize("fmt", ["WEBP", "GIF"])
def test_animated_image_gives_first_frame(fmt: str) -> None:
    red = Image.new("RGB", (16, 16), (255, 0, 0))
    blue = Image.new("RGB", (16, 16), (0, 0, 255))
    options = {"lossless": True} if fmt == "WEBP" else {}
    data = save(red, fmt, save_all=True, append_images=[blue], duration=100, loop=0, **options)
    decoded = decode_image(data)
    assert np.abs(decoded.bgr[8, 8].astype(int) - RED_BGR).max() <= 2


def test_heic_decodes() -> None:
    import pillow_heif

    buf = io.BytesIO()
    pillow_heif.from_pillow(Image.fromarray(blocks_rgb())).save(buf, quality=95)
    data = buf.getvalue()
    assert sniff_format(data) == "heic"
    decoded = decode_image(data)
    assert decoded.format == "heic"
    assert_stripes(decoded, tol=16)  # HEVC is lossy and subsamples chroma


def test_avif_decodes_when_pillow_has_avif() -> None:
    pytest.importorskip("PIL.AvifImagePlugin")
    if not features.check("avif"):
        pytest.skip("this Pillow build has no AVIF codec")
    decoded = decode_image(save(Image.fromarray(blocks_rgb()), "AVIF", quality=95))
    assert decoded.format == "avif"
    assert_stripes(decoded, tol=16)


def test_lab_tiff_is_colour_managed_not_read_as_rgb() -> None:
    mid_gray = Image.new("LAB", (8, 8), (128, 128, 128))  # L*=50, a*=b*=0
    decoded = decode_image(save(mid_gray, "TIFF"))
    assert np.abs(decoded.bgr[4, 4].astype(int) - 119).max() <= 3


@pytest.mark.parametrize(("fmt", "name"), [("BMP", "bmp"), ("TIFF", "tiff"), ("PNG", "png"), ("JPEG", "jpeg")])
def test_other_formats_decode_and_are_named(fmt: str, name: str) -> None:
    decoded = decode_image(save(Image.fromarray(blocks_rgb()), fmt))
    assert decoded.format == name
    assert_stripes(decoded, tol=8 if fmt == "JPEG" else 0)


def test_sniff_ignores_names_and_knows_heic_brands() -> None:
    assert sniff_format(b"\xff\xd8\xff\xe1rest") == "jpeg"
    assert sniff_format(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic") == "heic"
    assert sniff_format(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf") == "avif"
    assert sniff_format(b"BM and then some text that is not a bitmap") is None
    assert sniff_format(b"hello") is None


# --------------------------------------------------------------------------- resizing


def test_resize_to_fit_scale_round_trips_a_coordinate() -> None:
    image = np.zeros((600, 1000, 3), np.uint8)
    resized, scale = resize_to_fit(image, 500)
    assert resized.shape == (300, 500, 3) and scale == 0.5
    x_resized, y_resized = 250.0, 150.0
    assert (x_resized / scale, y_resized / scale) == (500.0, 300.0)

    # A bright spot found in the resized image maps back to where it was drawn.
    odd = np.zeros((333, 1001, 3), np.uint8)
    odd[200:206, 700:706] = 255  # centre (702.5, 202.5) in pixel-centre coordinates
    resized, scale = resize_to_fit(odd, 640)
    assert resized.shape[1] == 640 and scale == pytest.approx(640 / 1001)
    ys, xs = np.nonzero(resized[:, :, 0].astype(float) > 0)
    weights = resized[ys, xs, 0].astype(float)
    x_small = (np.average(xs, weights=weights) + 0.5) / scale
    y_small = (np.average(ys, weights=weights) + 0.5) / scale
    assert abs(x_small - 703.0) < 1.5 and abs(y_small - 203.0) < 1.5


def test_resize_to_fit_never_upscales() -> None:
    image = np.zeros((100, 50, 3), np.uint8)
    resized, scale = resize_to_fit(image, 640)
    assert resized is image and scale == 1.0
