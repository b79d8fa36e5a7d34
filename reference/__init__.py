"""Reference implementations, one module per method; each registers itself with qsrbench."""
