from vraagbaak.cli import main

raise SystemExit(main())
