"""Image file fixtures for ImageFileTests: PNG and Netpbm files, and the pixels Pillow decodes
them to, in Ember's Image layout (8-bit, height x width x channels).

    python generate_image_fixtures.py              # rewrite ImageFixtures/ beside this script
    python generate_image_fixtures.py --decode DIR # print Pillow's pixels of DIR's PNGs as JSON

PNGs come from two writers: Pillow itself (its encoder picks a filter per row), and the
small encoder below, which covers what Pillow cannot write: every colour type and bit depth
the PNG specification allows, Adam7 interlacing, all five filter types (cycled per row, so
each one also meets a first row, whose row above counts as zeros), split and empty IDAT
chunks, ancillary chunks, tRNS of every kind. The expected pixels are Pillow's decoding of
each file, converted to the Image layout:

- palette images become RGB, or RGBA when a tRNS chunk is present;
- gray or RGB with a tRNS key colour gain an alpha channel (0 where the pixel equals the key);
- samples below 8 bits are scaled to 0-255 (bit replication: 1 bit x255, 2 bits x85, 4 x17);
- 16-bit samples keep their high byte.

Where Pillow does not follow the PNG specification, the expected alpha is computed from the
samples this script wrote, and the fixture says so in "note": Pillow compares a 2- or 4-bit
gray tRNS key with the samples after scaling them to 8 bits, and a 16-bit RGB key with the
8-bit samples it keeps, so such keys never match in Pillow.

Netpbm files: Pillow writes P4, P5 and P6; the plain (P1-P3) ones, comments, and maxvals
other than 255 are written by hand. A maxval other than 255 is rescaled as Pillow's PPM
decoder does, round(value / maxval * 255); for gray with maxval above 255 Pillow keeps 16
bits (mode "I"), so those expected pixels are that formula applied to the written samples.

"conversions" holds Pillow's convert() of some fixtures to L, LA, RGB and RGBA (1-4
channels); luma_rgb.png's first pixels are colours where Pillow's fixed-point luma differs
from R*299/1000 + G*587/1000 + B*114/1000 rounded to nearest.
"""
import io
import json
import os
import struct
import sys
import zlib

import numpy as np
import PIL
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "ImageFixtures")
SIGNATURE = b"\x89PNG\r\n\x1a\n"
ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def pack_row(samples, depth):
    """One row of samples (a flat integer array) as PNG stores it: MSB-first bits, big-endian."""
    if depth == 16:
        return samples.astype(">u2").tobytes()
    if depth == 8:
        return samples.astype(np.uint8).tobytes()
    per_byte = 8 // depth
    padded = np.zeros(-(-len(samples) // per_byte) * per_byte, np.uint32)
    padded[: len(samples)] = samples
    groups = padded.reshape(-1, per_byte)
    shifts = np.array([8 - depth * (i + 1) for i in range(per_byte)], np.uint32)
    return (groups << shifts).sum(axis=1).astype(np.uint8).tobytes()


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def apply_filter(kind, row, previous, bpp):
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = previous[i]
        c = previous[i - bpp] if i >= bpp else 0
        predictor = [0, a, b, (a + b) // 2, paeth(a, b, c)][kind]
        out[i] = (x - predictor) & 0xFF
    return bytes([kind]) + bytes(out)


def encode_png(samples, depth, colour, interlace=False, palette=None, trns=None, filters=None,
               before_idat=b"", after_idat=b"", idat_pieces=1, empty_idat=False):
    """A PNG of `samples` (height x width x samples-per-pixel integers) written by hand; filter
    type of row r of pass p is filters(p, r) (default: cycling through all five)."""
    height, width, _ = samples.shape
    bpp = max(1, SAMPLES[colour] * depth // 8)
    filters = filters or (lambda p, r: (p + r) % 5)
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    raw = bytearray()
    for index, (x0, y0, dx, dy) in enumerate(passes):
        sub = samples[y0::dy, x0::dx]
        if sub.size == 0:
            continue
        previous = bytes(len(pack_row(sub[0].reshape(-1), depth)))
        for r, row in enumerate(sub):
            packed = pack_row(row.reshape(-1), depth)
            raw += apply_filter(filters(index, r), packed, previous, bpp)
            previous = packed
    stream = zlib.compress(bytes(raw), 9)
    cut = [len(stream) * i // idat_pieces for i in range(idat_pieces + 1)]
    idats = b"".join(chunk(b"IDAT", stream[cut[i]:cut[i + 1]]) for i in range(idat_pieces))
    if empty_idat:
        idats = chunk(b"IDAT", b"") + idats + chunk(b"IDAT", b"")
    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 1 if interlace else 0)
    extra = b""
    if palette is not None:
        extra += chunk(b"PLTE", bytes(np.asarray(palette, np.uint8).reshape(-1)))
    if trns is not None:
        extra += chunk(b"tRNS", trns)
    return SIGNATURE + chunk(b"IHDR", header) + before_idat + extra + idats + after_idat + chunk(b"IEND", b"")


def pillow_layout(image):
    """Pillow's decoding of a PNG or Netpbm file in the Image layout (see the module doc)."""
    image.load()
    mode, info = image.mode, image.info
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in info else "RGB")
    elif mode in ("1", "L") and "transparency" in info:
        image = image.convert("LA")
    elif mode == "RGB" and "transparency" in info:
        image = image.convert("RGBA")
    elif mode == "1":
        image = image.convert("L")
    if image.mode in ("I;16", "I;16B", "I"):
        values = np.asarray(image).astype(np.int64)
        gray = (values >> 8).astype(np.uint8)[..., None]
        if "transparency" in info:
            alpha = np.where(values == info["transparency"], 0, 255).astype(np.uint8)[..., None]
            return np.concatenate([gray, alpha], axis=2)
        return gray
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    return pixels.astype(np.uint8)


def png_colour_type(data):
    return data[25] if data[:8] == SIGNATURE else None


def pillow_pixels(data):
    pixels = pillow_layout(Image.open(io.BytesIO(data)))
    if png_colour_type(data) == 4 and pixels.shape[2] == 4:
        pixels = pixels[..., [0, 3]]  # Pillow opens 16-bit gray+alpha as RGBA
    return pixels


def rng_samples(rng, height, width, channels, depth, high=None):
    high = (1 << depth) if high is None else high
    return rng.integers(0, high, (height, width, channels), dtype=np.int64)


def hand_written(rng):
    """name -> (file bytes, expected pixels or None for Pillow's, note)."""
    files = {}
    depths = {0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16]}
    for colour, allowed in depths.items():
        for depth in allowed:
            for interlace in (False, True):
                height, width = (11, 13) if not interlace else (10, 11)
                palette = None
                if colour == 3:
                    entries = min(1 << depth, 21)
                    palette = rng.integers(0, 256, (entries, 3))
                    samples = rng_samples(rng, height, width, 1, depth, high=entries)
                else:
                    samples = rng_samples(rng, height, width, SAMPLES[colour], depth)
                name = f"c{colour}_d{depth}{'_adam7' if interlace else ''}.png"
                files[name] = (encode_png(samples, depth, colour, interlace, palette), None, None)

    # Adam7 on images too small for some passes (those passes hold no bytes at all).
    for height, width in [(1, 1), (1, 9), (3, 2), (9, 1)]:
        samples = rng_samples(rng, height, width, 3, 8)
        files[f"adam7_{height}x{width}.png"] = (encode_png(samples, 8, 2, True), None, None)

    # tRNS: gray keys at every depth, RGB keys at 8 and 16 bits, palette alpha tables.
    for depth in (1, 2, 4, 8, 16):
        samples = rng_samples(rng, 6, 9, 1, depth)
        key = int(samples[2, 3, 0])
        data = encode_png(samples, depth, 0, trns=struct.pack(">H", key), interlace=depth == 4)
        expected, note = None, None
        if depth in (2, 4, 16):
            scale = {2: 85, 4: 17, 16: 1}[depth]
            gray = (samples >> 8) if depth == 16 else samples * scale
            alpha = np.where(samples == key, 0, 255)
            expected = np.concatenate([gray, alpha], axis=2).astype(np.uint8)
            assert depth == 16 or (pillow_pixels(data)[..., 0] == expected[..., 0]).all()
            if depth == 16:
                assert (pillow_pixels(data) == expected).all()
            else:
                note = "alpha from the samples: Pillow compares the tRNS key with samples scaled to 8 bits"
        files[f"trns_gray_d{depth}.png"] = (data, expected, note)
    for depth in (8, 16):
        samples = rng_samples(rng, 5, 7, 3, depth, high=4 if depth == 8 else None)
        samples[1, 1] = samples[3, 5] = samples[0, 6]  # a few pixels share the key colour
        key = [int(v) for v in samples[0, 6]]
        data = encode_png(samples, depth, 2, trns=struct.pack(">HHH", *key))
        expected, note = None, None
        if depth == 16:
            alpha = np.where((samples == key).all(axis=2, keepdims=True), 0, 255)
            expected = np.concatenate([samples >> 8, alpha], axis=2).astype(np.uint8)
            assert (pillow_pixels(data)[..., :3] == expected[..., :3]).all()
            note = "alpha from the samples: Pillow compares a 16-bit tRNS key with 8-bit samples"
        files[f"trns_rgb_d{depth}.png"] = (data, expected, note)
    for depth, entries, alphas in [(8, 6, [0, 128, 255, 7]), (4, 16, list(range(0, 256, 17))), (2, 3, [90]), (1, 2, [0, 255])]:
        palette = rng.integers(0, 256, (entries, 3))
        samples = rng_samples(rng, 7, 12, 1, depth, high=entries)
        data = encode_png(samples, depth, 3, palette=palette, trns=bytes(alphas), interlace=depth == 2)
        files[f"trns_palette_d{depth}.png"] = (data, None, None)

    # Chunk layout: IDAT split into pieces and empty IDATs; ancillary chunks (known, unknown
    # and private) before, between and after; a suggested palette (PLTE) in an RGB image.
    samples = rng_samples(rng, 8, 10, 4, 8)
    text = chunk(b"tEXt", b"Comment\0made by hand") + chunk(b"gAMA", struct.pack(">I", 45455))
    private = chunk(b"emBr", b"\x01\x02\x03") + chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    files["chunks_split_idat.png"] = (
        encode_png(samples, 8, 6, idat_pieces=7, empty_idat=True, before_idat=text + private,
                   after_idat=chunk(b"tEXt", b"Title\0after the data")),
        None, None)
    samples = rng_samples(rng, 6, 6, 3, 8)
    files["rgb_suggested_palette.png"] = (encode_png(samples, 8, 2, palette=rng.integers(0, 256, (4, 3))), None, None)
    return files


def smooth(rng, height, width, channels):
    """A gradient with noise: rows Pillow's per-row filter choice treats differently."""
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([(x * 9 + y * 4 + 40 * c) % 256 for c in range(channels)], axis=2)
    base[height // 2:] = rng.integers(0, 256, base[height // 2:].shape)
    return base.astype(np.uint8)


def pillow_written(rng):
    files = {}

    def save(name, image, **options):
        buffer = io.BytesIO()
        image.save(buffer, format="PNG", **options)
        files[name] = (buffer.getvalue(), None, None)

    save("pillow_l.png", Image.fromarray(smooth(rng, 20, 24, 1)[..., 0], "L"))
    save("pillow_la.png", Image.fromarray(smooth(rng, 20, 24, 2), "LA"))
    save("pillow_rgb.png", Image.fromarray(smooth(rng, 20, 24, 3), "RGB"))
    save("pillow_rgba.png", Image.fromarray(smooth(rng, 20, 24, 4), "RGBA"))
    save("pillow_rgb_optimized.png", Image.fromarray(smooth(rng, 16, 16, 3), "RGB"), optimize=True)
    save("pillow_1.png", Image.fromarray(rng.integers(0, 2, (9, 21)).astype(bool)))
    save("pillow_i16.png", Image.fromarray(rng.integers(0, 65536, (7, 9)).astype(np.uint16)))
    palette = Image.fromarray(smooth(rng, 12, 15, 3), "RGB").quantize(colors=11)
    save("pillow_p.png", palette)
    save("pillow_p_transparent.png", palette, transparency=3)
    gray = smooth(rng, 9, 10, 1)[..., 0]
    save("pillow_l_transparent.png", Image.fromarray(gray, "L"), transparency=int(gray[4, 4]))
    rgb = rng.integers(0, 3, (9, 10, 3)).astype(np.uint8) * 100
    save("pillow_rgb_transparent.png", Image.fromarray(rgb, "RGB"), transparency=tuple(int(v) for v in rgb[0, 0]))

    # luma_rgb.png: Pillow's fixed-point luma against rounded decimal weights.
    every = np.arange(1 << 24, dtype=np.int64)
    r, g, b = every >> 16, (every >> 8) & 255, every & 255
    pillow = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16
    rounded = (r * 299 + g * 587 + b * 114 + 500) // 1000
    differing = every[pillow != rounded]
    picked = np.concatenate([differing[:: max(1, len(differing) // 700)][:700],
                             rng.integers(0, 1 << 24, 32 * 32 - 700), [0, 0xFFFFFF]])[: 32 * 32]
    picked[-2:] = [0, 0xFFFFFF]
    luma = np.stack([picked >> 16, (picked >> 8) & 255, picked & 255], axis=1).reshape(32, 32, 3).astype(np.uint8)
    save("luma_rgb.png", Image.fromarray(luma, "RGB"))
    # The fixed-point formula is Pillow's for every colour (checked here on all 2^24).
    all_colours = np.stack([r, g, b], axis=1).astype(np.uint8).reshape(4096, 4096, 3)
    assert (np.asarray(Image.fromarray(all_colours, "RGB").convert("L")).reshape(-1) == pillow).all()
    return files


ABOVE_8_BITS = "rescaled from the samples: Pillow keeps gray above 8 bits as mode I"


def rescaled(values, maxval):
    """Pillow's PPM rescaling, round(value / maxval * 255), of the written samples."""
    return np.array([round(int(v) / maxval * 255) for v in values.reshape(-1)]).reshape(values.shape).astype(np.uint8)


def netpbm(rng):
    files = {}

    def save(name, image):
        buffer = io.BytesIO()
        image.save(buffer, format="PPM")
        files[name] = (buffer.getvalue(), None, None)

    save("pillow.pgm", Image.fromarray(rng.integers(0, 256, (5, 7)).astype(np.uint8), "L"))
    save("pillow.ppm", Image.fromarray(rng.integers(0, 256, (5, 7, 3)).astype(np.uint8), "RGB"))
    save("pillow.pbm", Image.fromarray(rng.integers(0, 2, (4, 11)).astype(bool)))
    gray16 = rng.integers(0, 65536, (3, 4, 1))
    save("pillow_16bit.pgm", Image.fromarray(gray16[..., 0].astype(np.uint16)))
    files["pillow_16bit.pgm"] = (files["pillow_16bit.pgm"][0], rescaled(gray16, 65535), ABOVE_8_BITS)

    def plain(values, per_line):
        flat = [str(int(v)) for v in values.reshape(-1)]
        return "\n".join(" ".join(flat[i:i + per_line]) for i in range(0, len(flat), per_line)).encode() + b"\n"

    gray = rng.integers(0, 8, (4, 6, 1))
    files["plain_maxval7.pgm"] = (b"P2\n# a comment\n6 4\n# another\n7\n" + plain(gray, 5), None, None)
    colour = rng.integers(0, 256, (3, 5, 3))
    files["plain.ppm"] = (b"P3 5 3 255\r\n" + plain(colour, 7), None, None)
    bits = rng.integers(0, 2, (5, 9))
    files["plain.pbm"] = (b"P1\n# bits\n9 5\n" + b"\n".join(b"".join(b"%d" % v for v in row) for row in bits) + b"\n", None, None)
    files["plain_spaced.pbm"] = (b"P1 9 5 " + plain(bits, 9), None, None)
    gray = rng.integers(0, 101, (5, 6, 1))
    files["maxval100.pgm"] = (b"P5 #width\n6 5 #maxval next\n100\n" + bytes(gray.astype(np.uint8).reshape(-1)), None, None)
    colour = rng.integers(0, 1001, (4, 3, 3))
    files["maxval1000.ppm"] = (b"P6\n3 4\n1000\n" + colour.astype(">u2").tobytes(), None, None)
    colour = rng.integers(0, 65536, (2, 3, 3))
    files["plain_maxval65535.ppm"] = (b"P3\n3 2\n65535\n" + plain(colour, 9), None, None)
    gray = rng.integers(0, 1024, (3, 5, 1))
    files["maxval1023.pgm"] = (b"P5 5 3 1023\n" + gray.astype(">u2").tobytes(), rescaled(gray, 1023), ABOVE_8_BITS)
    gray = rng.integers(0, 1024, (2, 4, 1))
    files["plain_maxval1023.pgm"] = (b"P2 4 2 1023\n" + plain(gray, 4), rescaled(gray, 1023), ABOVE_8_BITS)
    return files


def filter_types(data):
    """The filter type of every row of a non-interlaced 8-bit PNG (for the coverage report)."""
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    if interlace:
        return set()
    position, stream = 8, b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        if kind == b"IDAT":
            stream += data[position + 8:position + 8 + length]
        position += 12 + length
    raw = zlib.decompress(stream)
    stride = 1 + -(-width * SAMPLES[colour] * depth // 8)
    return {raw[row * stride] for row in range(height)}


def hexed(pixels):
    return bytes(np.asarray(pixels, np.uint8).reshape(-1)).hex()


def generate():
    rng = np.random.default_rng(7)
    files = {**hand_written(rng), **pillow_written(rng), **netpbm(rng)}
    os.makedirs(OUT, exist_ok=True)
    for stale in os.listdir(OUT):
        os.remove(os.path.join(OUT, stale))
    expected = {}
    for name, (data, computed, note) in sorted(files.items()):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        pixels = pillow_pixels(data) if computed is None else computed
        entry = {"height": pixels.shape[0], "width": pixels.shape[1], "channels": pixels.shape[2], "pixels": hexed(pixels)}
        if note:
            entry["note"] = note
        expected[name] = entry
    conversions = {}
    for name in ["pillow_l.png", "pillow_la.png", "pillow_rgb.png", "pillow_rgba.png", "luma_rgb.png"]:
        image = Image.open(os.path.join(OUT, name))
        conversions[name] = {str(channels): hexed(np.asarray(image.convert(mode)))
                             for channels, mode in [(1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")]}
    pillow_filters = set().union(*(filter_types(files[n][0]) for n in files if n.startswith("pillow_") and n.endswith(".png")))
    document = {"generator": f"generate_image_fixtures.py, Pillow {PIL.__version__}, numpy {np.__version__}",
                "images": expected, "conversions": conversions}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"{len(files)} image files, {total} bytes in {OUT}; filter types Pillow chose: {sorted(pillow_filters)}")


def decode(directory):
    """Pillow's pixels of every PNG in `directory` and the filter types of its rows."""
    result = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".png"):
            with open(os.path.join(directory, name), "rb") as f:
                data = f.read()
            pixels = pillow_pixels(data)
            result[name] = {"height": pixels.shape[0], "width": pixels.shape[1], "channels": pixels.shape[2],
                            "pixels": hexed(pixels), "filters": sorted(filter_types(data))}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--decode":
        decode(sys.argv[2])
    else:
        generate()
