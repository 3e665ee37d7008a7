"""The local CAVE-compatible service of the sample datastack (see :mod:`.app` and :mod:`.routes`)."""
