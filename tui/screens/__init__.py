"""The console's views and the screens they open."""
