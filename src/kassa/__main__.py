import sys

from kassa.cli import main

# Guarded: the web server's worker processes are spawned, and a spawned process imports the
# parent's main module (as __mp_main__) before it runs its own target.
if __name__ == "__main__":
    sys.exit(main())
