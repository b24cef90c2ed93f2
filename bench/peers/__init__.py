"""Benchmarks of pinpipe's parts against the tools a data engineer would deploy instead, same run."""
