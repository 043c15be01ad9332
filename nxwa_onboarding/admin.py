"""Admin (placeholder until the admin issue lands)."""
