"""The pure evaluation core: definitions in, compiled snapshot, answers out.

No I/O, no threads, no clocks but the one relative dates read. Everything above it (sources,
remote fallback, events, the clients, the CLI and the local server) imports from here; nothing
here imports from them.
"""
