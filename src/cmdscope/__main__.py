import sys

from cmdscope.cli import main

sys.exit(main())
