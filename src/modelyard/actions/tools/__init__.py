"""Tools: Python callables, HTTP endpoints, MCP servers."""
