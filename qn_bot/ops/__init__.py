"""What an operator runs the bot with: health and metrics over HTTP, backups, diagnostics,
log formats. Nothing here is on a citizen's path except the counters of :mod:`.metrics`."""
