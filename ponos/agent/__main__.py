import sys

from ponos.agent.main import main

sys.exit(main())
