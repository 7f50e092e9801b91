import sys

from hybridjobs.cli import main

sys.exit(main())
