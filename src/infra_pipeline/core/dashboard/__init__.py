"""One commit's dashboard: `model` (frozen records), `state_machine` (the pure transition
function), `steps` (the only way a model changes; it re-exports the rest), `view` (what readers
see: next steps, commit statuses) and `render` (Markdown and the JSON state it carries)."""
