"""``python -m mizzen.xds``."""

from mizzen.xds.entry import main

main()
