"""Example sweep configs, installed as ``corpsim.configs``; ``corpsim init`` copies them
into ./configs/ to start from."""
