"""The specialised agents (Planner, ...): each agent module sits beside its prompt."""
