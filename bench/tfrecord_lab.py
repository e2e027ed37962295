"""The TFRecord lab's TensorFlow side: tf.data reading the shards `ember bench --tfrecord-lab`
wrote, with the same augmentation, and TensorFlow's reading of Ember's files checked.

    .build/release/ember bench --tfrecord-lab --lab-dir /tmp/lab --json
    python bench/tfrecord_lab.py /tmp/lab --workers 2 --reps 5     # needs tensorflow-cpu

Every record is first parsed and its PNG decoded by TensorFlow (a file Ember wrote that
TensorFlow cannot read is an error). Then each epoch: list the train-* shards, interleave
them (one record from each in turn), parse image/encoded and image/class/label, decode the
PNG, random 56x56 crop, random horizontal flip, brightness jitter of up to 0.2, scale to
[0, 1] and normalize with mean 0.5 and std 0.25, shuffle through a buffer, batch 64 and
prefetch, with `--workers` parallel calls. One warm-up epoch, then --reps timed ones; prints
one JSON line as `ember bench --json` does.
"""
import argparse
import glob
import json
import os
import time

import tensorflow as tf

FEATURES = {
    "image/encoded": tf.io.FixedLenFeature([], tf.string),
    "image/class/label": tf.io.FixedLenFeature([], tf.int64),
}


def check(files):
    count = 0
    for record in tf.data.TFRecordDataset(files):
        parsed = tf.io.parse_single_example(record, FEATURES)
        tf.io.decode_png(parsed["image/encoded"])
        count += 1
    return count


def pipeline(files, workers):
    def augment(record):
        parsed = tf.io.parse_single_example(record, FEATURES)
        image = tf.io.decode_png(parsed["image/encoded"], channels=3)
        image = tf.image.random_crop(image, [56, 56, 3])
        image = tf.image.random_flip_left_right(image)
        image = tf.cast(image, tf.float32) / 255.0
        image = tf.image.random_brightness(image, 0.2)
        return (image - 0.5) / 0.25, parsed["image/class/label"]

    dataset = tf.data.Dataset.from_tensor_slices(files)
    dataset = dataset.interleave(tf.data.TFRecordDataset, cycle_length=len(files), block_length=1)
    return dataset.map(augment, num_parallel_calls=workers).shuffle(1024).batch(64).prefetch(2)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    tf.config.threading.set_inter_op_parallelism_threads(args.workers)
    files = sorted(glob.glob(os.path.join(args.directory, "train-*")))
    if not files:
        raise SystemExit(f"{args.directory}: no train-* shards (write them with ember bench --tfrecord-lab --lab-dir DIR)")
    images = check(files)
    dataset = pipeline(files, args.workers)
    rates = []
    for epoch in range(args.reps + 1):
        start = time.perf_counter()
        for _ in dataset:
            pass
        if epoch > 0:
            rates.append(images / (time.perf_counter() - start))
    rates.sort()
    print(json.dumps({"workload": "tfrecord-lab", "impl": "tensorflow", "unit": "images/s", "median": rates[len(rates) // 2],
                      "min": rates[0], "max": rates[-1], "images": images, "shards": len(files), "workers": args.workers,
                      "checked": "every record parsed and its PNG decoded by TensorFlow " + tf.__version__}, sort_keys=True))


if __name__ == "__main__":
    main()
