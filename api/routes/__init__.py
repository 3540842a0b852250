"""One router per resource; each handler validates, calls ``api.casework`` / ``api.audit_access``, returns."""
