"""The files microgpt reads and writes: checkpoints, exports, atomic writes, output and field checks."""
