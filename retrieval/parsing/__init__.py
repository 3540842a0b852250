"""Turning judgment text into structure: 案号, courts, cited articles, causes, parties, sections."""
