"""The SR training stack: typed training configs, (LR, HR) patch sampling with cached MATLAB-exact
LR images, the training loop (Adam, schedules, EMA, validation, atomic checkpoints, exact resume)
and the base class of trained SR methods. Names no method; methods live in ``reference/``."""
