"""Our losses: binary cross-entropy for faceness, a hand-written localization loss, and their combination."""

from __future__ import annotations

import tensorflow as tf


def localization_loss(true_boxes: tf.Tensor, predicted_boxes: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """A coordinate term plus a size term, both relative to the face's own size.

    Coordinate: squared error of the top-left corner in units of the true width (height). Size: squared
    log ratio of predicted to true width (height). Boxes are x1, y1, x2, y2 in [0, 1]; only cells with a
    face (mask 1) count; averaged over those cells. Why relative: AP@0.5 asks each box to overlap its
    face by half whatever the face's size; absolute errors in [0, 1] let a 5-pixel miss on a 20-pixel
    face (IoU below 0.5) cost less than a 2% miss on a close-up, and the small faces were boxed loosely.
    """
    epsilon = 1e-4
    true_size = tf.maximum(true_boxes[..., 2:] - true_boxes[..., :2], epsilon)
    predicted_size = tf.maximum(predicted_boxes[..., 2:] - predicted_boxes[..., :2], epsilon)
    corner_error = (predicted_boxes[..., :2] - true_boxes[..., :2]) / true_size
    coordinate = tf.reduce_sum(tf.square(corner_error), axis=-1)
    size = tf.reduce_sum(tf.square(tf.math.log(predicted_size / true_size)), axis=-1)
    positives = tf.maximum(tf.reduce_sum(mask), 1.0)
    return tf.reduce_sum((coordinate + size) * mask) / positives


def landmark_loss(true_points: tf.Tensor, predicted_points: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Mean squared error of the 10 landmark coordinates on cells whose face has landmarks."""
    error = tf.reduce_sum(tf.square(true_points - predicted_points), axis=-1)
    return tf.reduce_sum(error * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def classification_loss(
    true_objectness: tf.Tensor, predicted: tf.Tensor, positive_weight: float
) -> tf.Tensor:
    """Binary cross-entropy over every cell; face cells are rare, so they weigh `positive_weight` more."""
    epsilon = tf.keras.backend.epsilon()
    predicted = tf.clip_by_value(predicted, epsilon, 1 - epsilon)
    per_cell = -(
        positive_weight * true_objectness * tf.math.log(predicted)
        + (1 - true_objectness) * tf.math.log(1 - predicted)
    )
    return tf.reduce_mean(per_cell)


def detector_losses(
    targets: tf.Tensor,
    outputs: dict[str, tf.Tensor],
    *,
    positive_weight: float,
    box_weight: float,
    landmark_weight: float,
) -> dict[str, tf.Tensor]:
    """Every term and the combined loss, from targets [B, G, G, 16] and the model's three outputs."""
    objectness = targets[..., 0]
    classification = classification_loss(objectness, outputs["objectness"][..., 0], positive_weight)
    localization = localization_loss(targets[..., 1:5], outputs["boxes"], objectness)
    landmarks = landmark_loss(targets[..., 5:15], outputs["landmarks"], objectness * targets[..., 15])
    total = classification + box_weight * localization + landmark_weight * landmarks
    return {
        "loss": total,
        "classification": classification,
        "localization": localization,
        "landmarks": landmarks,
    }
