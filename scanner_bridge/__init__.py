"""扫码桥: the daemon between a front-desk serial scan gun and the server.

reader.py reads the port (reopening it with back-off), parser.py turns bytes into validated scans,
queue.py keeps every scan on disk until the server has answered, sender.py delivers them in order
with the device token and an idempotency key, bridge.py runs the two loops, config.py reads the
settings (command line, environment, config file). Needs only pyserial and requests."""
__version__ = "1.0"
