"""Shared machinery of the kit: no topic logic lives here (design section 2)."""
