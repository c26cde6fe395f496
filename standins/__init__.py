"""Local stand-ins for GitHub and an OpenAI-compatible model server, used by tests and the demo."""
