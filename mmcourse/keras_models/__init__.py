"""Keras models of the course, one module per topic; each has a PyTorch twin in ``mmcourse.torch_models``."""
