"""bess-duos domain core: MPANs, distributors, tariffs, DUoS, analytics. No Flask, no gspread."""
