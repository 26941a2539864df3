"""Configuration: every option declared once, and the settings built from argv and environment."""
