"""dlib's HOG face detector, reproduced exactly near faces found by our detector (see search.py)."""
