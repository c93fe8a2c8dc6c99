from lcm_tui.cli import main

raise SystemExit(main())
