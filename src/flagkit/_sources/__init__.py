"""Where definitions come from and how they are kept current: the fetch, the poll state
machine with its thread and asyncio drivers, the disk cache and the served store."""
