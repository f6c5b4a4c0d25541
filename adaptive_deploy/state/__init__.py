"""State backends: local (SQLite) and postgres, behind the StateStore and Locker protocols."""
