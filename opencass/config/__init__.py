"""Configuration: typed model, TOML loading with strict validation, the demo configuration."""
