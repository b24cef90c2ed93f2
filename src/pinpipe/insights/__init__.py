"""The insight queries: one definition each, run by every engine, fixed names and columns."""

from pinpipe.insights.queries import INSIGHTS, VIEW_COLUMNS, VIEWS, Insight, get_insight

__all__ = ["INSIGHTS", "VIEWS", "VIEW_COLUMNS", "Insight", "get_insight"]
