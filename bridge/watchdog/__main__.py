"""`python -m bridge.watchdog`: the same as `ankaios-mqtt-watchdog`."""

from bridge.watchdog.cli import main

raise SystemExit(main())
