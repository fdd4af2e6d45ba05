"""Bytes in, pixels out: decode uploads safely and re-encode them without metadata.

Uploads are untrusted. Checks run cheapest first (size, magic bytes, header dimensions) so a
decompression bomb is refused before a single pixel is allocated. The type is decided from magic
bytes, never the file name. Every decoded image comes out the same way: upright (EXIF orientation
applied), BGR, uint8, HxWx3, transparency composited onto white - the shape OpenCV models expect.

Pure functions only: no file I/O, no module-level side effects. The one global touched is Pillow's
plugin registry (HEIF is registered lazily, idempotently). Pillow's own ``MAX_IMAGE_PIXELS`` is
left alone: our per-call ``ImageLimits.max_pixels`` is checked on the header first, and Pillow's
global check stays as a backstop (its error is mapped to ``ImageTooLargeError``).
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime

import cv2
import numpy as np
from numpy.typing import NDArray
from PIL import ExifTags, Image, ImageCms, ImageOps

from matcher.errors import (
    CorruptImageError,
    EmptyFileError,
    FileTooLargeError,
    ImageTooLargeError,
    UnsupportedMediaError,
)

SEND_INSTEAD = "Send a JPEG, PNG, WebP or HEIC photo."

# Our format name -> the Pillow plugin id allowed to open it (never let Pillow guess).
_PIL_FORMATS: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WEBP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heic": "HEIF",  # pillow-heif
    "avif": "AVIF",  # Pillow's native plugin (pillow-heif 1.x dropped AVIF)
}
_FORMAT_LABEL: dict[str, str] = {
    "jpeg": "JPEG",
    "png": "PNG",
    "gif": "GIF",
    "webp": "WebP",
    "bmp": "BMP",
    "tiff": "TIFF",
    "heic": "HEIC",
    "avif": "AVIF",
}

# ISO-BMFF brands (the ``ftyp`` box) that mean a still image rather than a video.
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"})
_HEIF_GENERIC_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
# BITMAPINFOHEADER sizes: a bare "BM" prefix is too weak (text can start with it).
_BMP_DIB_SIZES = frozenset({12, 16, 40, 52, 56, 64, 108, 124})

_EXIF_ORIENTATION = ExifTags.Base.Orientation
_EXIF_DATETIME_ORIGINAL = ExifTags.Base.DateTimeOriginal
_WHITE = (255, 255, 255)


@dataclass(frozen=True)
class ImageLimits:
    """Per-call limits (from Settings), so tests and callers never mutate Pillow globals."""

    max_bytes: int = 50 * 1024 * 1024
    max_pixels: int = 60_000_000


# eq=False: comparing ndarrays field-wise is ambiguous and hashing them fails.
@dataclass(frozen=True, eq=False)
class DecodedImage:
    bgr: NDArray[np.uint8]  # HxWx3 uint8, BGR, EXIF orientation already applied
    format: str  # "jpeg" | "png" | "webp" | "heic" | "avif" | "bmp" | "tiff" | "gif"
    width: int
    height: int
    orientation: int  # EXIF orientation tag that was applied (1 if none)
    taken_at: datetime | None  # EXIF DateTimeOriginal (naive), else None


# --------------------------------------------------------------------------- sniffing


def _ftyp_brands(data: bytes) -> tuple[bytes, frozenset[bytes]] | None:
    """(major brand, all brands) of an ISO-BMFF ``ftyp`` box at the start, else None."""
    if len(data) < 16 or data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[0:4], "big")
    end = min(size if size >= 16 else 16, len(data), 4096)
    major = data[8:12]
    compatible = {data[i : i + 4] for i in range(16, end - 3, 4)}
    return major, frozenset({major, *compatible})


def sniff_format(data: bytes) -> str | None:
    """Image format from magic bytes (never the file name); None if not one we accept."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "tiff"
    if data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_DIB_SIZES:
        return "bmp"
    ftyp = _ftyp_brands(data)
    if ftyp is not None:
        major, brands = ftyp
        # The major brand decides; then compatible codec brands; a bare HEIF brand means HEIF.
        for candidates in ({major}, brands):
            if candidates & _AVIF_BRANDS:
                return "avif"
            if candidates & _HEIC_BRANDS:
                return "heic"
        if brands & _HEIF_GENERIC_BRANDS:
            return "heic"
    return None


def _looks_like_text(data: bytes) -> bool:
    head = data[:4096]
    if b"\x00" in head:
        return False
    text = head.decode("utf-8", errors="ignore")
    if not text:
        return False
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return printable / len(text) > 0.95 and len(text) >= len(head) * 0.5


def _describe(data: bytes) -> str:
    """What a refused file looks like, in words a person understands."""
    head = data[:64]
    lowered = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith(b"%PDF"):
        return "a PDF document"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "a ZIP archive or Office document"
    if _ftyp_brands(data) is not None:
        if head[8:12] == b"crx ":
            return "a camera RAW file"
        return "an MP4 or MOV video"
    if head.startswith(b"\x1aE\xdf\xa3"):
        return "a WebM or MKV video"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "an AVI video"
    if (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head.startswith((b"ID3", b"OggS", b"fLaC")):
        return "an audio file"
    if head.startswith(b"8BPS"):
        return "a Photoshop document"
    if head.startswith((b"\x00\x00\x00\x0cjP  \r\n\x87\n", b"\xff\x4f\xff\x51")):
        return "a JPEG 2000 image"
    if head.startswith((b"\x1f\x8b", b"Rar!", b"7z\xbc\xaf\x27\x1c", b"BZh")):
        return "a compressed archive"
    if lowered.startswith((b"<svg", b"<?xml")) and b"<svg" in lowered:
        return "an SVG drawing"
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "a web page"
    if _looks_like_text(data):
        return "plain text"
    return "a kind of file we do not recognise"


# --------------------------------------------------------------------------- decoding


def _ensure_plugin(fmt: str) -> None:
    """Register pillow-heif on first use only (idempotent; no import-time side effects)."""
    if fmt == "heic" and "HEIF" not in Image.OPEN:
        import pillow_heif  # heavy native library: import only when a HEIC arrives

        pillow_heif.register_heif_opener()
    elif _PIL_FORMATS[fmt] not in Image.OPEN:
        Image.init()
    if _PIL_FORMATS[fmt] not in Image.OPEN:
        raise UnsupportedMediaError(f"{_FORMAT_LABEL[fmt]} photos cannot be read on this server. {SEND_INSTEAD}")


def _too_large(width: int, height: int, limits: ImageLimits) -> ImageTooLargeError:
    return ImageTooLargeError(f"This image is {width}×{height} pixels; the limit is {limits.max_pixels / 1e6:g} megapixels.")


def _corrupt(fmt: str) -> CorruptImageError:
    return CorruptImageError(f"This {_FORMAT_LABEL[fmt]} file is damaged or incomplete and cannot be read. Try sending the original photo again.")


def _check_input(data: bytes, limits: ImageLimits) -> str:
    """Empty -> too many bytes -> type. Returns our format name."""
    if not data:
        raise EmptyFileError("The file is empty.")
    if len(data) > limits.max_bytes:
        mib = 1024 * 1024
        raise FileTooLargeError(f"This file is {len(data) / mib:.1f} MB; the limit is {limits.max_bytes / mib:g} MB.")
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedMediaError(f"This file is not a photo we can read (it looks like {_describe(data)}). {SEND_INSTEAD}")
    return fmt


def _open_lazily(data: bytes, fmt: str, limits: ImageLimits) -> Image.Image:
    """Parse the header only and refuse too many pixels before any pixel is decoded."""
    _ensure_plugin(fmt)
    try:
        im = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Pillow's global backstop fired inside open() (e.g. 30000x30000): size is in its message.
        found = re.search(r"\((\d+) pixels\)", str(exc))
        size = f"{int(found.group(1)) / 1e6:.0f} megapixels" if found else "far too many pixels"
        raise ImageTooLargeError(f"This image has {size}; the limit is {limits.max_pixels / 1e6:g} megapixels.") from exc
    except MemoryError:
        raise
    except Exception as exc:  # the magic bytes matched, so the header is broken
        raise _corrupt(fmt) from exc
    width, height = im.size
    if width <= 0 or height <= 0:
        raise _corrupt(fmt)
    if width * height > limits.max_pixels:
        raise _too_large(width, height, limits)
    return im


def _read_exif(im: Image.Image) -> tuple[int, datetime | None]:
    """(orientation, DateTimeOriginal); broken metadata never fails the photo."""
    try:
        exif = im.getexif()
        orientation = exif.get(_EXIF_ORIENTATION, 1)
        raw = exif.get_ifd(ExifTags.IFD.Exif).get(_EXIF_DATETIME_ORIGINAL)
    except Exception:
        return 1, None
    if not isinstance(orientation, int) or not 1 <= orientation <= 8:
        orientation = 1  # exif_transpose ignores invalid values too
    return orientation, _parse_exif_datetime(raw)


def _parse_exif_datetime(raw: object) -> datetime | None:
    if isinstance(raw, bytes):
        raw = raw.decode("ascii", errors="ignore")
    if not isinstance(raw, str):
        return None
    text = raw.strip("\x00 \t")[:19]
    for pattern in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return None  # includes the common "0000:00:00 00:00:00" placeholder


def _sixteen_to_eight(im: Image.Image) -> Image.Image:
    """16-bit (or 32-bit int) grayscale -> 8-bit L by full-range scaling, not Pillow's clipping."""
    arr = np.asarray(im)
    scaled = np.clip(arr, 0, 65535).astype(np.float32) / 257.0 + 0.5
    return Image.fromarray(scaled.astype(np.uint8), mode="L")


def _cmyk_to_rgb(im: Image.Image) -> Image.Image:
    """Use the embedded ICC profile when there is one (Photoshop CMYK); else Pillow's formula.

    Pillow already undoes the Adobe APP14 inversion when decoding the JPEG.
    """
    icc = im.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(im, source, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass
    return im.convert("RGB")


def _to_rgb(im: Image.Image) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB, compositing transparency onto white."""
    if im.mode == "CMYK":
        return _cmyk_to_rgb(im)
    if im.mode == "LAB":  # Pillow's plain convert() treats L*a*b* as if it were RGB
        lab_to_srgb = ImageCms.buildTransform(ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB")
        converted = ImageCms.applyTransform(im, lab_to_srgb)
        if converted is None:  # only when in place, which we never ask for
            raise ValueError("LAB conversion failed")
        return converted
    if im.mode.startswith("I;16") or im.mode == "I":
        im = _sixteen_to_eight(im)
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info:
        rgba = im.convert("RGBA")
        out = Image.new("RGB", rgba.size, _WHITE)
        out.paste(rgba, mask=rgba.getchannel("A"))
        return out
    if im.mode == "RGB":
        return im
    return im.convert("RGB")


def decode_image(data: bytes, limits: ImageLimits = ImageLimits()) -> DecodedImage:
    """Decode untrusted bytes to an upright BGR uint8 array, refusing anything unsafe or broken."""
    fmt = _check_input(data, limits)
    with _open_lazily(data, fmt, limits) as im:
        try:
            im.load()  # first frame only for animated GIF/WebP/PNG
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _too_large(*im.size, limits) from exc
        except MemoryError:
            raise
        except Exception as exc:  # any decoder failure on untrusted bytes is "corrupt"
            raise _corrupt(fmt) from exc
        orientation, taken_at = _read_exif(im)
        try:
            ImageOps.exif_transpose(im, in_place=True)  # in place: no copy of a large photo
            rgb = _to_rgb(im)
        except MemoryError:
            raise
        except Exception as exc:  # a mode Pillow cannot convert to RGB
            raise UnsupportedMediaError(f"This {_FORMAT_LABEL[fmt]} uses a colour format we cannot read ({im.mode}). {SEND_INSTEAD}") from exc
    bgr = np.asarray(cv2.cvtColor(np.asarray(rgb), cv2.COLOR_RGB2BGR), dtype=np.uint8)
    height, width = bgr.shape[:2]
    return DecodedImage(bgr, fmt, width, height, orientation, taken_at)


# --------------------------------------------------------------------------- encoding


def _check_bgr(bgr: NDArray[np.uint8]) -> None:
    if not isinstance(bgr, np.ndarray) or bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3:
        raise ValueError("expected an HxWx3 uint8 BGR array")


def encode_jpeg(bgr: NDArray[np.uint8], quality: int = 90) -> bytes:
    """JPEG with no metadata at all (OpenCV writes only the JFIF header: no EXIF/GPS/ICC/comments)."""
    _check_bgr(bgr)
    if not 1 <= quality <= 100:
        raise ValueError("quality must be 1..100")
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def _encode_png(bgr: NDArray[np.uint8]) -> bytes:
    ok, buf = cv2.imencode(".png", bgr)  # OpenCV writes no text/eXIf/iCCP chunks
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def strip_metadata(data: bytes, limits: ImageLimits = ImageLimits(), quality: int = 95) -> bytes:
    """Re-encode upright pixels with no metadata (GPS in a child's photo must not leak).

    PNG stays PNG (lossless); everything else becomes JPEG. Transparency is flattened onto white.
    """
    decoded = decode_image(data, limits)
    if decoded.format == "png":
        return _encode_png(decoded.bgr)
    return encode_jpeg(decoded.bgr, quality)


def resize_to_fit(bgr: NDArray[np.uint8], max_side: int) -> tuple[NDArray[np.uint8], float]:
    """Downscale so the longest side <= max_side; returns (image, scale), original = resized / scale.

    Never upscales: an image that already fits is returned as is (same array) with scale 1.0.
    """
    if max_side < 1:
        raise ValueError("max_side must be >= 1")
    height, width = bgr.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return bgr, 1.0
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(cv2.resize(bgr, size, interpolation=cv2.INTER_AREA), dtype=np.uint8), scale
