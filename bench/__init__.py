"""Benchmarks: `python -m bench` runs every module here that has ``async def main() -> dict``."""
