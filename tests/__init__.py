"""Front Door."""
