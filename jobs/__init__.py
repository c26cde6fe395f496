"""RQ entry points: each job loads a run, drives one step of the flow and saves the run."""
