"""The insight queries: one definition each, run by every engine, fixed names and columns."""

from pinpipe.insights.queries import INSIGHTS, VIEWS, Insight, get_insight

__all__ = ["INSIGHTS", "VIEWS", "Insight", "get_insight"]
