import sys

from cmdscope._cli import main

sys.exit(main())
