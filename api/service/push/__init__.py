"""智能推送: pending cases subscribe to index changes; pushes go to the judge's inbox and a court's webhook.

``store`` keeps pending cases, inbox items, the delivery outbox and webhooks in one SQLite file under
the data folder (``push.sqlite``); ``matching`` turns a new build into pushes and 不再参照 alerts
(the scoring itself is ``retrieval.push_match``); ``webhook`` signs and sends, ``delivery`` is the
worker that drains the outbox with retries; ``watcher`` notices a new build; ``service`` ties them to
the app's lifetime.
"""
