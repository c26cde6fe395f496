"""The shared kernel every other package may use: nothing here knows about runs, GitHub or models.

* `errors`: the few named exceptions and the one place that decides retryable versus final;
* `logs` and `redact`: structured logs, with every secret shape removed;
* `markdown`: untrusted text made inert for what we post (fences, mentions, markers);
* `treefiles`: reading and writing files of an untrusted tree without following a link out of it;
* `walk`: walking such a tree, however deep, without recursion and without following links.

May import: nothing of issuesmith. Must not: import any other `bot` package.
"""
