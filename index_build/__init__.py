"""Offline pipeline: read judgments, extract structure, segment, embed, write and publish an index."""
