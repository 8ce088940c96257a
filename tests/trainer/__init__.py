"""Tests of the trainer service: LabelMe, augmentation, the network and loss, a real training run."""
