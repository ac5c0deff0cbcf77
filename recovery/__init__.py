"""Recovery actions: one opt-in pytest test per action of recovery.actions.yaml."""
