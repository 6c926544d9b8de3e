"""Assessment and deployment orchestration: connections, scans, events."""
