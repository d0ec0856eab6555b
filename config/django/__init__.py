"""Django settings by environment: base, development, test, production."""
