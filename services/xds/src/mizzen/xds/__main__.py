"""``python -m mizzen.xds``."""

from mizzen.xds.app import main

main()
