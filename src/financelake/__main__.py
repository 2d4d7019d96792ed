from financelake.cli import main

raise SystemExit(main())
