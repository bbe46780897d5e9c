"""The web interface: server-rendered pages on top of the same rules and workflows as the API."""
