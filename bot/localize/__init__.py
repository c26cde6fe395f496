"""Finding the code an issue is about, without a model.

* `text`: identifiers and search terms;
* `parsing`: definitions and imports of a file (tree-sitter, a regex fallback);
* `snapshot`: the tracked files of a work tree and their git blob ids;
* `index`: the per-repository index (per-blob records, BM25 postings, symbol and module tables);
* `store`: the on-disk cache of records (by blob id) and of whole indexes (by tree);
* `issue`: what an issue mentions (paths, modules, traceback frames, identifiers, code);
* `scoring`: the signals and their one documented combination;
* `render`: the compact map and the excerpts that fit the Planner's budget;
* `cache`: an index read from the store or built reusing its records; `context`: all of it,
  ranked and fitted for the Planner.

May import: `bot.workspace` (the hardened git), `bot.sandboxes`, `bot.config`, `bot.runs`,
`bot.core`. Must not: import the model client, GitHub, the agents or anything above.
"""
