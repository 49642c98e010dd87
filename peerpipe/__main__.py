import sys

from peerpipe.cli import main

sys.exit(main())
