"""Defaults the command line shows before it imports anything heavy."""

DEFAULT_SERVER = "127.0.0.1:15011"
"""The config API (translator) address when no mesh is running and none is given."""
DEFAULT_DISCOVERY = "127.0.0.1:15013"
"""The discovery (registry) address when none is given."""
