"""What to run on a machine and how to read what it prints: pure (text in, records out)."""
