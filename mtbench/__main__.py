"""``python -m mtbench`` is the ``mtbench`` command."""

from mtbench.cli import main

raise SystemExit(main())
