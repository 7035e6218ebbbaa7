"""HTTP front end: the aiohttp application, the resolution fast path, and the serving loop."""
