"""Starting a project from a CSV (`mlci init`): profile, baseline gate, config and contract."""
