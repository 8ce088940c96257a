"""Builds the pretrained models (dlib, ONNX and tflite weights from registry packages) into SavedModels."""
