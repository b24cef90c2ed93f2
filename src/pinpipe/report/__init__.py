"""What people look at: the nine insights as charts and the pipeline's status, live (the gateway's
dashboard at ``/``) or frozen in one self-contained HTML file (``pinpipe report``)."""

from pinpipe.report.charts import CHARTS, ChartSpec, chart_data
from pinpipe.report.page import dashboard_html, report_data, report_html, write_report
from pinpipe.report.status import PipelineStatus, open_status

__all__ = [
    "CHARTS",
    "ChartSpec",
    "PipelineStatus",
    "chart_data",
    "dashboard_html",
    "open_status",
    "report_data",
    "report_html",
    "write_report",
]
