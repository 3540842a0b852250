"""HTTP service and command line of the 类案强制检索 service."""
