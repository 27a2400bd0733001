"""python -m scanner_bridge --port /dev/ttyUSB0 --server https://… --token …  (see --help)"""
import logging
import signal
import sys

from .bridge import Bridge
from .config import ConfigError, load


def main(argv=None) -> int:
    try:
        settings = load(argv)
    except ConfigError as exc:
        print(f"scanner_bridge: 配置有误 configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    bridge = Bridge(settings)
    signal.signal(signal.SIGTERM, lambda *_: bridge.stop.set())
    signal.signal(signal.SIGINT, lambda *_: bridge.stop.set())
    bridge.start()
    while not bridge.stop.wait(3600):
        pass
    bridge.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
