"""What every Spark job of pinpipe shares: the session (jars, Delta, S3A, logs) and its errors.

PySpark is imported inside the functions only: the embedded path never pays for it.
"""

from pinpipe.spark.errors import MissingConnectorError, spark_errors
from pinpipe.spark.session import JAR_SET, needs_of, spark_path, spark_session

__all__ = ["JAR_SET", "MissingConnectorError", "needs_of", "spark_errors", "spark_path", "spark_session"]
