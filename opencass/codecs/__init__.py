"""Sans-IO translation between bytes and the canonical model."""
