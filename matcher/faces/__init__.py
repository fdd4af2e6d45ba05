"""Face detection, alignment, quality and recognition (one module per model)."""
