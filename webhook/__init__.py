"""bess-duos transport: Flask webhook, sheet writers and the command line."""
