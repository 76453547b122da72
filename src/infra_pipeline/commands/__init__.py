"""CLI verbs that only the terminal uses (`infra apply`, `infra init`, `infra event`, ...).
Imported only by `main`; what a verb shares with an event lives in `flows/`."""
