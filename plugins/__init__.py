"""Built-in mtbench plugins, installed as ``mtbench_plugins`` and found through entry points."""
