"""类案检索报告 in batches: pending cases in, one audited search and one report per case out, resumable."""
