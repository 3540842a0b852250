"""Format readers: each yields ``ReadResult`` items (a Document or a rejection with its location)."""
