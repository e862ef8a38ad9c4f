"""The zchat broker: a roster, a sans-I/O core and the ROUTER server around them."""
