"""kentongan."""
