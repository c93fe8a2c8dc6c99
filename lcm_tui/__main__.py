from lcm_tui.frontends.cli import main

raise SystemExit(main())
