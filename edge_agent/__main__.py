"""``python -m edge_agent --config FILE``."""

from edge_agent._main import main

raise SystemExit(main())
