"""What the deployment and a repository configure, and what one may ask of the other.

* `settings`: the one `Settings` object, read from the environment once at start-up;
* `repo`: a repository's `.github/issuesmith.yml`, validated strictly;
* `limits`: the deployment's limits on a repository's file (budget only lowered, priced models only);
* `pricing`: the price table and a run's budget;
* `policy`: the paths never changed and the policy every irreversible action is checked against.

May import: `bot.core`. Must not: import runs, GitHub, models, work trees or anything above.
"""
