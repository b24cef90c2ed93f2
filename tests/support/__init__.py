"""The shared test harness: real servers, their fixtures' plumbing, helpers used across test packages."""
