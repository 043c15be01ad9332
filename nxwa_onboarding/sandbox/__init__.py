"""An offline NXCloud stand-in, for demos and tests. Never mount it in production."""
