"""`python -m autograd_nn ...` runs the `autograd-nn` command."""

from .cli import main

raise SystemExit(main())
