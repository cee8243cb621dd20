"""Side effects live here: installing boundaries, starting a recording or a replay."""
