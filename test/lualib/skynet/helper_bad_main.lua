-- Raises in its main chunk: the launch itself fails.
error("main chunk exploded")
