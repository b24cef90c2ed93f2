"""``pinpipe demo``: the whole pipeline end to end on embedded defaults (see :mod:`pinpipe.demo.run`).

Nothing is imported here, so ``python -m pinpipe.demo.stream_worker`` starts without the demo's
own imports (emulators, HTTP client, rich).
"""
