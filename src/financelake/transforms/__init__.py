"""Pure DataFrame -> DataFrame transformations, one module per layer. No I/O here."""
