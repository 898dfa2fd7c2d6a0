import sys

from paodan.cli import main

sys.exit(main())
