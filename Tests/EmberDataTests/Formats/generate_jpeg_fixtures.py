"""JPEG fixtures for ImageFileJPEGTests: small JPEG files written by Pillow, and the pixels
Pillow decodes them to, in Ember's Image layout (8-bit, height x width x channels).

    python generate_jpeg_fixtures.py    # rewrite JPEGFixtures/ beside this script (needs Pillow, numpy)

The files cover what users' photos are: baseline JPEGs with 4:4:4, 4:2:2 and 4:2:0 chroma
subsampling and odd sizes (partial MCUs at the right and bottom edges), progressive ones,
optimized Huffman tables, restart markers, grayscale (baseline and progressive), an RGB
JPEG without the YCbCr transform, CMYK (Adobe's inverted convention), and one image saved
with every EXIF orientation 1-8.

Expected pixels are Pillow's: Image.open, then ImageOps.exif_transpose (the EXIF
orientation applied), and CMYK converted with convert("RGB") (Ember's Image has no CMYK
mode; 4 channels mean RGBA). Pillow decodes with libjpeg-turbo's default settings (accurate
integer IDCT, fancy upsampling), the settings Ember's decoder uses.
"""
import io
import json
import os

import numpy as np
import PIL
from PIL import Image, ImageOps, features

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "JPEGFixtures")


def picture(rng, height, width, channels):
    """Smooth gradients with some noise and a hard edge: what photos have, compressible."""
    y, x = np.mgrid[0:height, 0:width]
    planes = []
    for c in range(channels):
        smooth = 128 + 100 * np.sin(x / (3 + 2 * c) + y / (5 + c)) * np.cos(y / (7 + c))
        smooth[: height // 2, : width // 3] = 40 * c + 20  # a flat block with sharp edges
        planes.append(smooth + rng.normal(0, 12, (height, width)))
    return np.clip(np.stack(planes, axis=-1), 0, 255).astype(np.uint8)


def encoded(image, **options):
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **options)
    return buffer.getvalue()


def pillow_pixels(data):
    """Pillow's decoding of a JPEG file in the Image layout (see the module doc)."""
    image = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if image.mode == "CMYK":
        image = image.convert("RGB")
    pixels = np.asarray(image)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def files(rng):
    rgb = Image.fromarray(picture(rng, 23, 37, 3))
    gray = Image.fromarray(picture(rng, 19, 29, 1)[:, :, 0])
    cmyk = Image.fromarray(picture(rng, 16, 24, 4), "CMYK")
    result = {
        "baseline_444.jpg": encoded(rgb, quality=90, subsampling=0),
        "baseline_422.jpg": encoded(rgb, quality=85, subsampling=1),
        "baseline_420.jpg": encoded(rgb, quality=75, subsampling=2),
        "progressive_420.jpg": encoded(rgb, quality=80, progressive=True),
        "progressive_444.jpg": encoded(rgb, quality=95, subsampling=0, progressive=True),
        "optimized.jpg": encoded(rgb, quality=70, optimize=True),
        "restart_markers.jpg": encoded(rgb, quality=80, restart_marker_blocks=2),
        "gray.jpg": encoded(gray, quality=85),
        "gray_progressive.jpg": encoded(gray, quality=85, progressive=True),
        "rgb_colorspace.jpg": encoded(rgb, quality=90, keep_rgb=True),
        "cmyk.jpg": encoded(cmyk, quality=90),
    }
    # A non-square picture, so that every orientation gives a different array.
    oriented = Image.fromarray(picture(rng, 12, 20, 3))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        result[f"exif_orientation_{orientation}.jpg"] = encoded(oriented, quality=90, subsampling=0, exif=exif.tobytes())
    return result


def generate():
    rng = np.random.default_rng(21)
    written = files(rng)
    os.makedirs(OUT, exist_ok=True)
    for stale in os.listdir(OUT):
        os.remove(os.path.join(OUT, stale))
    expected = {}
    for name, data in sorted(written.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        pixels = pillow_pixels(data)
        expected[name] = {"height": pixels.shape[0], "width": pixels.shape[1], "channels": pixels.shape[2],
                          "pixels": bytes(pixels.reshape(-1)).hex()}
    generator = (f"generate_jpeg_fixtures.py, Pillow {PIL.__version__} (libjpeg-turbo "
                 f"{features.version_feature('libjpeg_turbo')}), numpy {np.__version__}")
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump({"generator": generator, "images": expected}, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(len(d) for d in written.values())
    print(f"{len(written)} JPEG files, {total} bytes in {OUT}")


if __name__ == "__main__":
    generate()
