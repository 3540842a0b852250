"""One router per resource; each handler validates, calls ``api.service.searching`` / ``api.service.audit_access``, returns."""
