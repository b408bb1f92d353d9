"""Pure business logic: participant rules, calendars, netting (no I/O)."""
