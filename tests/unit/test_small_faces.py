"""Tiles for the small-face search: where they lie, how many, and when there are none."""

from __future__ import annotations

import numpy as np

from amyplant_faces.pipeline.small_faces import MAX_TILES, SMALLEST_SEEN_PX, smallest_face_px, tiles


def test_no_tiles_when_the_whole_view_sees_faces_that_small() -> None:
    # A 192 px image is the detector's own input: the whole view sees 12 px faces already.
    assert tiles((192, 150, 3), min_face_px=SMALLEST_SEEN_PX) == []
    assert smallest_face_px((1920, 1080)) == SMALLEST_SEEN_PX * 10


def test_tiles_cover_the_image_and_stay_inside_it() -> None:
    shape = (1350, 1800, 3)
    found = tiles(shape, min_face_px=12)
    assert 0 < len(found) <= MAX_TILES
    covered = np.zeros(shape[:2], dtype=bool)
    for x0, y0, x1, y1 in found:
        assert 0 <= x0 < x1 <= shape[1] and 0 <= y0 < y1 <= shape[0]
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    # The finest level's tiles show a 12 px face at 12 px of the detector's 192 px input.
    assert min(x1 - x0 for x0, _, x1, _ in found) == 192


def test_any_face_up_to_a_third_of_a_tile_lies_whole_in_one_tile() -> None:
    found = [t for t in tiles((1350, 1800, 3), min_face_px=12) if t[2] - t[0] == 192]
    for left in range(0, 1800 - 64, 37):
        for top in range(0, 1350 - 64, 41):
            assert any(
                x0 <= left and left + 64 <= x1 and y0 <= top and top + 64 <= y1 for x0, y0, x1, y1 in found
            ), (left, top)


def test_a_very_large_photo_is_searched_for_somewhat_larger_faces_within_the_limit() -> None:
    found = tiles((3000, 4000, 3), min_face_px=12)
    assert len(found) <= MAX_TILES
    assert min(x1 - x0 for x0, _, x1, _ in found) > 192
