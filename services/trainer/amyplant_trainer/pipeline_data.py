"""The tf.data pipeline over an augmented split: decode, resize, normalise, batch, prefetch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from amyplant_trainer.augment import AugmentedSample
from amyplant_trainer.targets import encode_targets


def to_dataset(
    samples: list[AugmentedSample], *, size: int, grid: int, batch_size: int, shuffle: bool, seed: int
) -> tf.data.Dataset:
    """Samples are held as JPEG bytes (small) and decoded by tf.data, as files on disk would be."""
    if not samples:
        raise ValueError("no samples: the split is empty")
    encoded = [tf.io.encode_jpeg(tf.constant(s.image), quality=95).numpy() for s in samples]
    targets = np.stack([encode_targets(s, grid) for s in samples])
    dataset = tf.data.Dataset.from_tensor_slices((encoded, targets))
    if shuffle:
        dataset = dataset.shuffle(len(samples), seed=seed, reshuffle_each_iteration=True)

    def decode(jpeg: tf.Tensor, target: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = tf.io.decode_jpeg(jpeg, channels=3)
        image = tf.image.resize(image, (size, size))  # no-op for augmented squares; guards other sources
        # The network normalises internally; the pipeline hands it float pixels in 0..255.
        return tf.cast(image, tf.float32), target

    return (
        dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
