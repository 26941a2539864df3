"""`ankaios-mqtt-watchdog`: the way back when the bridge must stop.

Under Ankaios 1.0.x only a new workload instance gets a new control interface, so a
bridge that lost its own says why in `<prefix>/$bridge/info` `stopped` and stops; the
watchdog, beside `ank`, re-creates the workload (`ank delete workload`, then `ank
apply`), rate-limited. `rules` decides (pure); `subscriber`, `ank` and `cli` are the
adapters.
"""
