import sys

from retrace_launcher.cli import main

sys.exit(main())
