"""PyTorch models of the course, one module per topic; each has a Keras twin in ``mmcourse.keras_models``."""
