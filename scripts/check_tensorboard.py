#!/usr/bin/env python3
"""Checks Ember's TensorBoard event files with TensorBoard's own reader.

    check_tensorboard.py LOGDIR EXPECTED.json
        Reads LOGDIR with EventAccumulator (every event kept) and asserts that the scalars,
        histograms and texts equal EXPECTED.json:
        {"scalars":    {"tag": [[step, value], ...]},
         "histograms": {"tag": [{"step": s, "num": n, "sum": x, "min": a, "max": b,
                                 "values": [...]}]},
         "texts":      {"tag": [[step, "text"], ...]}}
        Histogram bucket counts are compared with an independent NumPy binning of "values"
        over TensorFlow's default bucket limits.

    check_tensorboard.py --reference-bytes
        Prints the byte literals pasted into Tests/EmberTrainTests/TensorBoardEncodingTests.swift,
        serialized by TensorBoard's protobuf classes and record writer.

Exits 0 and prints "OK ..." on success; prints every mismatch and exits 1 otherwise.
"""
import io
import json
import os
import sys

import numpy as np


def default_bucket_limits():
    # TensorFlow's histogram.cc: 0, +-1e-12 * 1.1^k below 1e20, +-DBL_MAX.
    positive = []
    v = 1.0e-12
    while v < 1.0e20:
        positive.append(v)
        v *= 1.1
    positive.append(sys.float_info.max)
    return np.array([-x for x in reversed(positive)] + [0.0] + positive)


def nonempty_buckets(values):
    """(right limit, count) of every non-empty bucket: bucket i holds limit[i-1] <= v < limit[i]."""
    limits = default_bucket_limits()
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    index = np.minimum(np.searchsorted(limits, values, side="right"), len(limits) - 1)
    counts = np.bincount(index, minlength=len(limits))
    return [(float(limits[i]), float(counts[i])) for i in np.nonzero(counts)[0]]


def check(logdir, expected_path):
    from tensorboard.backend.event_processing import event_accumulator
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    with open(expected_path) as f:
        expected = json.load(f)
    errors = []

    files = sorted(n for n in os.listdir(logdir) if n.startswith("events.out.tfevents."))
    if not files:
        errors.append(f"no events.out.tfevents.* file in {logdir}")
    for name in files:
        first = next(iter(EventFileLoader(os.path.join(logdir, name)).Load()), None)
        if first is None or first.file_version != "brain.Event:2":
            errors.append(f"{name}: the first event is not file_version brain.Event:2")

    guidance = {kind: 0 for kind in (event_accumulator.COMPRESSED_HISTOGRAMS, event_accumulator.IMAGES,
                                     event_accumulator.AUDIO, event_accumulator.SCALARS,
                                     event_accumulator.HISTOGRAMS, event_accumulator.TENSORS)}
    accumulator = event_accumulator.EventAccumulator(logdir, size_guidance=guidance)
    accumulator.Reload()
    tags = accumulator.Tags()

    scalars = expected.get("scalars", {})
    if sorted(tags["scalars"]) != sorted(scalars):
        errors.append(f"scalar tags {sorted(tags['scalars'])} != expected {sorted(scalars)}")
    for tag, points in scalars.items():
        if tag not in tags["scalars"]:
            continue
        got = [(e.step, e.value) for e in accumulator.Scalars(tag)]
        # TensorBoard stores simple_value as a float32.
        want = [(step, float(np.float32(value))) for step, value in points]
        if got != want:
            errors.append(f"scalars {tag}: read {got}, expected {want}")

    histograms = expected.get("histograms", {})
    if sorted(tags["histograms"]) != sorted(histograms):
        errors.append(f"histogram tags {sorted(tags['histograms'])} != expected {sorted(histograms)}")
    for tag, entries in histograms.items():
        if tag not in tags["histograms"]:
            continue
        events = accumulator.Histograms(tag)
        if [e.step for e in events] != [entry["step"] for entry in entries]:
            errors.append(f"histogram {tag}: steps {[e.step for e in events]}, expected {[x['step'] for x in entries]}")
            continue
        for event, entry in zip(events, entries):
            h = event.histogram_value
            where = f"histogram {tag} step {event.step}"
            for field in ("num", "min", "max"):
                if getattr(h, field) != entry[field]:
                    errors.append(f"{where}: {field} {getattr(h, field)} != expected {entry[field]}")
            if not np.isclose(h.sum, entry["sum"], rtol=1e-12, atol=1e-12):
                errors.append(f"{where}: sum {h.sum} != expected {entry['sum']}")
            if len(h.bucket_limit) != len(h.bucket):
                errors.append(f"{where}: {len(h.bucket_limit)} bucket limits for {len(h.bucket)} buckets")
            got = [(limit, count) for limit, count in zip(h.bucket_limit, h.bucket) if count > 0]
            want = nonempty_buckets(entry["values"])
            if got != want:
                errors.append(f"{where}: non-empty buckets {got}, expected {want}")

    texts = expected.get("texts", {})
    for tag, points in texts.items():
        if tag not in tags["tensors"]:
            errors.append(f"text {tag}: not among the tensor tags {tags['tensors']}")
            continue
        got = [(e.step, [s.decode("utf-8") for s in e.tensor_proto.string_val]) for e in accumulator.Tensors(tag)]
        want = [(step, [text]) for step, text in points]
        if got != want:
            errors.append(f"text {tag}: read {got}, expected {want}")
        plugin = accumulator.SummaryMetadata(tag).plugin_data.plugin_name
        if plugin != "text":
            errors.append(f"text {tag}: plugin {plugin!r}, expected 'text'")

    if errors:
        print("\n".join(errors))
        return 1
    counts = (sum(len(p) for p in scalars.values()), sum(len(e) for e in histograms.values()),
              sum(len(p) for p in texts.values()))
    print(f"OK {len(files)} file(s): {counts[0]} scalars, {counts[1]} histograms, {counts[2]} texts match")
    return 0


def reference_bytes():
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.compat.proto.summary_pb2 import HistogramProto, Summary, SummaryMetadata
    from tensorboard.compat.proto.tensor_pb2 import TensorProto
    from tensorboard.compat.proto.tensor_shape_pb2 import TensorShapeProto
    from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import crc32c, masked_crc32c
    from tensorboard.summary.writer.record_writer import RecordWriter

    def show(name, data):
        print(f"{name}: [{', '.join('0x%02X' % b for b in data)}]")

    print(f"crc32c('123456789') = 0x{crc32c(b'123456789'):08X}, masked 0x{masked_crc32c(b'123456789'):08X}")
    show("fileVersion", Event(wall_time=1700000000.5, file_version="brain.Event:2").SerializeToString())
    show("scalar", Event(wall_time=1.25, step=300, summary=Summary(
        value=[Summary.Value(tag="loss", simple_value=0.5)])).SerializeToString())
    show("zeroScalar", Event(wall_time=0.5, summary=Summary(
        value=[Summary.Value(tag="z", simple_value=0.0)])).SerializeToString())
    show("negativeStep", Event(wall_time=2.0, step=-1, summary=Summary(
        value=[Summary.Value(tag="x", simple_value=-1.5)])).SerializeToString())
    histogram = HistogramProto(min=-1.0, max=2.0, num=3, sum=1.5, sum_squares=5.25,
                               bucket_limit=[-0.9, 1e-12, 2.1], bucket=[1, 1, 1])
    show("histogram", Event(wall_time=3.0, step=7, summary=Summary(
        value=[Summary.Value(tag="w", histo=histogram)])).SerializeToString())
    metadata = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(plugin_name="text"))
    tensor = TensorProto(dtype="DT_STRING", string_val=[b"hi"],
                         tensor_shape=TensorShapeProto(dim=[TensorShapeProto.Dim(size=1)]))
    show("text", Event(wall_time=4.0, step=1, summary=Summary(
        value=[Summary.Value(tag="note", metadata=metadata, tensor=tensor)])).SerializeToString())
    record = io.BytesIO()
    RecordWriter(record).write(b"abc")
    show("record('abc')", record.getvalue())
    limits = default_bucket_limits()
    print(f"default bucket limits: {len(limits)}; limits[776] = {float(limits[776])!r}, "
          f"limits[876] = {float(limits[876])!r}, limits[1549] = {float(limits[1549])!r}")


if __name__ == "__main__":
    if sys.argv[1:] == ["--reference-bytes"]:
        reference_bytes()
    elif len(sys.argv) == 3:
        sys.exit(check(sys.argv[1], sys.argv[2]))
    else:
        sys.exit(__doc__)
