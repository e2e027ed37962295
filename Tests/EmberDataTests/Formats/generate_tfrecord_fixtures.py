"""TFRecord fixtures for TFRecordTests, written by TensorFlow itself (tf.io.TFRecordWriter,
tf.train.Example), and what TensorFlow parses them to.

    pip install tensorflow-cpu           # 2.21.0 wrote the committed files
    python generate_tfrecord_fixtures.py # rewrite TFRecordFixtures/ beside this script
    python generate_tfrecord_fixtures.py --read FILE...  # TensorFlow's parse of Ember's files, as JSON

TFRecordFixtures/:
- examples.tfrecord and examples.tfrecord.gz (GZIP): three Examples with a PNG image
  (tf.io.encode_png), an int64 label and its text, a float feature of shape [2, 3], a
  variable-length int64 list (empty in one example, negative and 2^40 values) and a float
  scalar missing from one example (parsed with default 1.5);
- classification/: train-0000{0,1}-of-00002 and validation-00000-of-00001, 8x8 RGB images
  of two classes in TensorFlow's usual layout, for `ember train --dataset tfrecord`;
- expected.json: tf.io.parse_single_example's tensors for each Example, tf.io.decode_png's
  pixels (hex, height x width x channels), and each Example's bytes as
  SerializeToString(deterministic=True) writes them (hex).
"""
import json
import os
import sys

import numpy as np
import tensorflow as tf

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "TFRecordFixtures")

SPEC = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
    "image/class/text": tf.io.FixedLenFeature([], tf.string),
    "features": tf.io.FixedLenFeature([2, 3], tf.float32),
    "ids": tf.io.VarLenFeature(tf.int64),
    "weight": tf.io.FixedLenFeature([], tf.float32, default_value=1.5),
}


def bytes_feature(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def int64_feature(values):
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


def float_feature(values):
    return tf.train.Feature(float_list=tf.train.FloatList(value=values))


def examples():
    rng = np.random.default_rng(21)
    ids = [[], [-3, 7], [1 << 40, 0, 5, -(1 << 33), 9]]
    shapes = [(4, 5, 3), (3, 2, 3), (2, 6, 1)]
    result = []
    for index in range(3):
        pixels = rng.integers(0, 256, size=shapes[index], dtype=np.uint8)
        features = {
            "image/encoded": bytes_feature([tf.io.encode_png(pixels).numpy()]),
            "image/class/label": int64_feature([index % 2]),
            "image/class/text": bytes_feature([["cat", "dog"][index % 2].encode()]),
            "features": float_feature(rng.standard_normal(6).astype(np.float32).tolist()),
            "ids": int64_feature(ids[index]),
        }
        if index != 1:
            features["weight"] = float_feature([0.25 * (index + 1)])
        result.append(tf.train.Example(features=tf.train.Features(feature=features)))
    return result


def classification(directory):
    rng = np.random.default_rng(7)
    os.makedirs(directory, exist_ok=True)

    def example(label):
        # Class 0 dark, class 1 bright: learnable in a few steps.
        low = 0 if label == 0 else 128
        pixels = rng.integers(low, low + 128, size=(8, 8, 3), dtype=np.uint8)
        return tf.train.Example(features=tf.train.Features(feature={
            "image/encoded": bytes_feature([tf.io.encode_png(pixels).numpy()]),
            "image/class/label": int64_feature([label]),
            "image/class/text": bytes_feature([["dark", "bright"][label].encode()]),
            "image/format": bytes_feature([b"PNG"]),
        }))

    for name, shards, count in [("train", 2, 16), ("validation", 1, 8)]:
        for shard in range(shards):
            path = os.path.join(directory, f"{name}-{shard:05d}-of-{shards:05d}")
            with tf.io.TFRecordWriter(path) as writer:
                for index in range(shard, count, shards):
                    writer.write(example(index % 2).SerializeToString())


def parsed(serialized):
    tensors = tf.io.parse_single_example(serialized, SPEC)
    image = tf.io.decode_png(tensors["image/encoded"]).numpy()
    return {
        "label": int(tensors["image/class/label"].numpy()),
        "text": tensors["image/class/text"].numpy().decode(),
        "features": tensors["features"].numpy().tolist(),
        "ids": tf.sparse.to_dense(tensors["ids"]).numpy().tolist(),
        "weight": float(tensors["weight"].numpy()),
        "image": {"height": image.shape[0], "width": image.shape[1], "channels": image.shape[2], "pixels": image.tobytes().hex()},
    }


def generate():
    os.makedirs(HERE, exist_ok=True)
    written = examples()
    for name, options in [("examples.tfrecord", None), ("examples.tfrecord.gz", tf.io.TFRecordOptions(compression_type="GZIP"))]:
        with tf.io.TFRecordWriter(os.path.join(HERE, name), options) as writer:
            for example in written:
                writer.write(example.SerializeToString())
    # What TensorFlow reads back from its own file, not what was meant to be written.
    read = [record.numpy() for record in tf.data.TFRecordDataset(os.path.join(HERE, "examples.tfrecord"))]
    expected = {
        "generator": f"generate_tfrecord_fixtures.py, TensorFlow {tf.__version__}",
        "examples": [dict(parsed(record), serialized=tf.train.Example.FromString(record).SerializeToString(deterministic=True).hex())
                     for record in read],
    }
    with open(os.path.join(HERE, "expected.json"), "w") as file:
        json.dump(expected, file, indent=1)
        file.write("\n")
    classification(os.path.join(HERE, "classification"))


def read(paths):
    """TensorFlow's reading of files Ember wrote: every record's Example as a dict."""
    for path in paths:
        compression = "GZIP" if path.endswith(".gz") else ""
        for record in tf.data.TFRecordDataset(path, compression_type=compression):
            example = tf.train.Example.FromString(record.numpy())
            features = {}
            for name, feature in sorted(example.features.feature.items()):
                kind = feature.WhichOneof("kind")
                values = list(getattr(feature, kind).value)
                if kind == "bytes_list":
                    if name == "image/encoded":
                        image = tf.io.decode_image(values[0]).numpy()
                        values = {"shape": list(image.shape), "pixels": image.tobytes().hex()}
                    else:
                        values = [value.hex() for value in values]
                features[name] = values
            print(json.dumps({"file": os.path.basename(path), "features": features}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--read":
        read(sys.argv[2:])
    else:
        generate()
