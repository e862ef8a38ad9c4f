"""The zchat terminal client: input parsing, rendering, screen and the DEALER loop."""
