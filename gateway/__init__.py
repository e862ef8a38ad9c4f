"""zchat web: the WebSocket gateway between browsers and a broker (docs/WEB.md).

Each WebSocket is bridged to a DEALER of its own, frame for frame; the gateway adds
no chat rules and holds no history, only its own limits. One job per module:
`app.py` (the aiohttp server: routes, static files, headers, the upgrade's checks,
start and stop), `bridge.py` (one WebSocket and one DEALER), `feed.py` (the
`--fanout pub` SUB), `parking.py` (a reload without a leave), `limits.py`,
`origin.py` and `throttle.py` (pure policy), `settings.py` (the options), `texts.py`
(what it prints). It imports common/ and protocol/, never the broker or the client.
"""
