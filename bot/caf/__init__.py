"""CAF episodes: registration, import, Team Around the Child meetings and nudges."""
