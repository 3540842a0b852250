"""智能推送: pending cases subscribe to index changes; pushes go to the judge's inbox and a court's webhook.

``store`` keeps pending cases, inbox items, the delivery outbox and webhooks in one SQLite file under
the data folder (``push.sqlite``), or in the PostgreSQL database the nodes share
(LEIAN_DATABASE_URL); ``service`` notices a new build, matches it (the scoring itself is
``retrieval.push_match``), writes pushes and 不再参照 alerts with their audit records, and drains the
outbox; ``webhook`` checks URLs, signs and sends one delivery. The pending-case resource and the
inbox (registration, visibility, accept/dismiss) are ``api.service.pending_cases``.
"""
