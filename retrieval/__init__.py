"""Query-time library of the 类案强制检索 service, shared with the offline index build."""
