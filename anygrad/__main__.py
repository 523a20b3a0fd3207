"""``python -m anygrad train ...``: the same as the ``anygrad`` console command."""

from anygrad.cli import main

raise SystemExit(main())
