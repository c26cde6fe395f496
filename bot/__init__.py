"""issuesmith: turns a labeled GitHub issue into a reviewed, tested pull request."""
